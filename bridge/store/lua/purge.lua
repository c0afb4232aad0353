-- ARGV: prefix, fingerprints. Delete these alerts (the admin's purge); {deleted, bytes}.
-- Appended to drop.lua, whose helpers it uses.
local P = ARGV[1]
stored_bytes(P)
local deleted, freed = 0, 0
for i = 2, #ARGV do
  if redis.call('EXISTS', P .. 'alert:' .. ARGV[i]) == 1 then
    freed = freed + drop(P, ARGV[i])
    deleted = deleted + 1
  end
end
return {deleted, freed}
