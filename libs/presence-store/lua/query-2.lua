--[[
  Bulk presence of clients of one shard, in argument order.

  KEYS[1] online  KEYS[2] lastseen
  ARGV[1..n] clientIds

  Returns { now, online flag (1/0) x n, last seen (or false) x n }
]]
local rcall = redis.call
--- @include "now-ms"

local online, lastseen = KEYS[1], KEYS[2]
local result = { now_ms() }
local flags = rcall('ZMSCORE', online, unpack(ARGV))
local seen = rcall('ZMSCORE', lastseen, unpack(ARGV))
for i = 1, #ARGV do
  if flags[i] then result[#result + 1] = 1 else result[#result + 1] = 0 end
end
for i = 1, #ARGV do
  result[#result + 1] = seen[i]
end
return result
