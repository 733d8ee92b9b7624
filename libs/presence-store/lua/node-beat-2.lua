--[[
  A node (an edge, or a sweeper under the sweepers' pair of keys) says it is alive, how many
  sessions it holds and which version it runs; entries not renewed for ARGV[4] ms after their
  deadline are dropped (a few per call).

  KEYS[1] node deadlines  ZSET node -> deadline (ms)
  KEYS[2] node info       HASH node -> {"sessions","startedAt","lastSeenAt","version"}
  ARGV[1] node  ARGV[2] ttl (ms)  ARGV[3] sessions  ARGV[4] keep dead nodes for (ms)  ARGV[5] startedAt
  ARGV[6] version: '' (written as null) or characters of [0-9A-Za-z.+_-] only, checked by the caller,
          so it needs no escaping in the JSON

  Returns now
]]
local rcall = redis.call
--- @include "now-ms"

local node_deadlines, node_info = KEYS[1], KEYS[2]
local node, ttl, sessions, keep, started = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local version = ARGV[6] == '' and 'null' or ('"' .. ARGV[6] .. '"')
local now = now_ms()
rcall('ZADD', node_deadlines, now + ttl, node)
rcall('HSET', node_info, node, '{"sessions":' .. string.format('%d', sessions) ..
  ',"startedAt":' .. string.format('%d', started) .. ',"lastSeenAt":' .. string.format('%d', now) ..
  ',"version":' .. version .. '}')
local gone = rcall('ZRANGEBYSCORE', node_deadlines, '-inf', now - keep, 'LIMIT', 0, 10)
if #gone > 0 then
  rcall('ZREM', node_deadlines, unpack(gone))
  rcall('HDEL', node_info, unpack(gone))
end
return now
