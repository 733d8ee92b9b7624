--[[
  One consistent read of a client: its sessions with their deadlines and state, since when it is
  online, and when it was last seen if offline.

  KEYS[1] client  KEYS[2] meta  KEYS[3] deadlines  KEYS[4] since  KEYS[5] lastseen
  ARGV[1] clientId

  Returns { now, online since or false, last seen or false,
            sessionId, record JSON, deadline, state JSON or false, ... }
]]
local rcall = redis.call
--- @include "now-ms"

local client, meta, deadlines, since, lastseen = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local client_id = ARGV[1]
local result = { now_ms(), rcall('HGET', since, client_id), rcall('ZSCORE', lastseen, client_id) }
local fields = rcall('HGETALL', client)
for i = 1, #fields, 2 do
  local session_id = fields[i]
  result[#result + 1] = session_id
  result[#result + 1] = fields[i + 1]
  result[#result + 1] = rcall('ZSCORE', deadlines, session_id .. '|' .. client_id)
  result[#result + 1] = rcall('HGET', meta, session_id)
end
return result
