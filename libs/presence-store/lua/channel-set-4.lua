--[[
  Replaces a joined session's state in a channel (SET): an `update` event when it changed and
  updates are on.

  KEYS[1] clients  ZSET  KEYS[2] sessions  HASH <clientId>|<sessionId> -> record  KEYS[3] seq
  KEYS[4] events
  ARGV[1] channel  ARGV[2] sessionId  ARGV[3] clientId  ARGV[4] state JSON  ARGV[5] events maxlen
  ARGV[6] pub/sub channel  ARGV[7] 1 to write `update` events, 0 not to

  Returns { status, clients, sessions, event id or false }
  status: 'ok'; 'not_joined' (the session is not in the channel: nothing written)
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "channel-member"

local c = { clients = KEYS[1], sessions = KEYS[2], seq = KEYS[3], events = KEYS[4] }
local channel, session_id, client_id, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxlen, pubsub, updates = ARGV[5], ARGV[6], ARGV[7] == '1'

if rcall('HEXISTS', c.sessions, channel_member(client_id, session_id)) == 0 then
  return { 'not_joined', rcall('ZCARD', c.clients), rcall('HLEN', c.sessions), false }
end
local id = set_member_state(c, maxlen, pubsub, updates, channel, session_id, client_id, state, now_ms())
return { 'ok', rcall('ZCARD', c.clients), rcall('HLEN', c.sessions), id }
