--- @include "emit-channel-event"

-- A joined session's field in its channel's `sessions` HASH and `index` ZSET: `<clientId>|<sessionId>`.
-- Client ids hold none of `|`, `}` and sort below both, so the index range `[<a>|` .. `(<b>}` holds
-- exactly the sessions of the clients from a to b (of one client when a = b), in client order.
local function channel_member(client_id, session_id)
  return client_id .. '|' .. session_id
end

local function clients_range(first, last)
  return '[' .. first .. '|', '(' .. last .. '}'
end

-- Replaces a joined session's state in its record; writes an `update` event when the state changed
-- and `updates` is on. Returns the event id or false.
--   c: see emit_channel_event. state: JSON text or '' (no state); the record keeps it as text.
local function set_member_state(c, maxlen, pubsub, updates, channel, session_id, client_id, state, now)
  local field = channel_member(client_id, session_id)
  local raw = redis.call('HGET', c.sessions, field)
  if not raw then return false end
  local record = cjson.decode(raw)
  if (record.state or '') == state then return false end
  record.state = state ~= '' and state or nil
  redis.call('HSET', c.sessions, field, cjson.encode(record))
  if not updates then return false end
  return emit_channel_event(c, maxlen, pubsub, { type = 'update', channel = channel, clientId = client_id,
    sessionId = session_id, node = record.node, reason = false, at = now })
end
