"""A real DNS server on a UDP port, answering A, AAAA and SRV queries from records the test sets.

The bridge looks its ``dns+``/``dnssrv+`` Alertmanager addresses up here through ``--dns-server``,
exactly as it would ask a cluster's DNS or a Consul agent, so a test controls the answer without
touching the machine's resolver.
"""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    """``records[(name, type)]`` is a list of record texts, e.g. ``["127.0.0.2"]`` or ``["0 0 9093 am-0."]``."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="dns server", daemon=True)
        self._thread.start()

    def set(self, name: str, rdtype: str, *records: str) -> None:
        """Answer ``name`` (absolute, with or without the final dot) with these records from now on."""
        self.records[(name.rstrip(".") + ".", rdtype)] = list(records)

    def _serve(self) -> None:
        while True:
            try:
                data, client = self.sock.recvfrom(4096)
            except OSError:  # closed
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
            self.queries += 1
            records = self.records.get((name, rdtype))
            if records:
                response.answer.append(dns.rrset.from_text(name, 1, "IN", rdtype, *records))
            elif not any(known == name for known, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), client)

    def close(self) -> None:
        self.sock.close()
