-- ARGV: prefix, max records, max bytes, refused records, refused bytes, then (vendor, outcome, refused '1' or
-- '0', record) per callback. Appended to journal_prelude.lua.
local P = ARGV[1]
local JCAPS = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])}
for i = 6, #ARGV, 4 do journal_add(P, JCAPS, ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1', ARGV[i + 3], '') end
return 1
