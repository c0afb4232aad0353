-- wrk script: realistic callbacks from all three vendors in turn, each about a distinct object, so
-- every request is a new alert (the worst case for the store). The bodies are the templates in
-- bench/payloads/ (BENCH_PAYLOADS), with "{id}" replaced by a run-unique id (BENCH_RUN).
local dir = os.getenv("BENCH_PAYLOADS") or "bench/payloads"
local run = os.getenv("BENCH_RUN") or "r"
local token = os.getenv("BENCH_TOKEN")
local suffix = token and ("?token=" .. token) or ""

local function read(name)
  local file = assert(io.open(dir .. "/" .. name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

local vendors = {
  {path = "/callbacks/tencent" .. suffix, body = read("tencent.json"),
   headers = {["Content-Type"] = "application/json"}},
  {path = "/callbacks/kingsoft" .. suffix, body = read("kingsoft.json"),
   headers = {["Content-Type"] = "application/json"}},
  {path = "/callbacks/aliyun" .. suffix, body = read("aliyun.form"),
   headers = {["Content-Type"] = "application/x-www-form-urlencoded; charset=UTF-8"}},
}

-- BENCH_VENDOR, if set, keeps only that vendor's callbacks (the per-vendor CPU figures)
local only = os.getenv("BENCH_VENDOR")
if only then
  for index = #vendors, 1, -1 do
    if not string.find(vendors[index].path, "/callbacks/" .. only, 1, true) then table.remove(vendors, index) end
  end
  assert(#vendors == 1, "BENCH_VENDOR names no vendor: " .. only)
end

local threads = {}
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tonumber(wrk.thread:get("thread_id")) or 0
end

function request()
  counter = counter + 1
  local id = string.format("%s-%d-%d", run, thread_id, counter)
  local vendor = vendors[counter % #vendors + 1]
  return wrk.format("POST", vendor.path, vendor.headers, (vendor.body:gsub("{id}", id)))
end
