--[[
  Renews the deadlines of live sessions of one shard: the edge node's batched "still here".
  Only existing members are renewed (a session swept while its node was cut off is not revived
  silently); the indexes of missing members are returned so the node can register them again.

  KEYS[1] deadlines
  ARGV[1] ttl (ms)  ARGV[2] members "<sessionId>|<clientId>" as a JSON array: one argument
  instead of one per member spares the edge a protocol string per member on every refresh
  (cjson.decode costs Redis about what parsing 1000 arguments did).

  Returns { now, missing index (1-based among the members), ... }
]]
local rcall = redis.call
--- @include "now-ms"

local deadlines, ttl = KEYS[1], tonumber(ARGV[1])
local now = now_ms()
local deadline = now + ttl
local members = cjson.decode(ARGV[2])
if #members == 0 then return { now } end
local scores = rcall('ZMSCORE', deadlines, unpack(members))
local result = { now }
local renew = {}
for i, score in ipairs(scores) do
  if score then
    renew[#renew + 1] = deadline
    renew[#renew + 1] = members[i]
  else
    result[#result + 1] = i
  end
end
if #renew > 0 then rcall('ZADD', deadlines, 'XX', unpack(renew)) end
return result
