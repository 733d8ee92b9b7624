-- Appends one channel event to the channel's stream and publishes it, in the same script as the
-- transition it describes (libs/wire-format/src/channel-event.ts decodes both). The version is the
-- channel's event counter after INCR: it only grows, so a consumer can drop a stale event.
--   c: { clients, sessions, seq, events }  ev: { type, channel, clientId, sessionId, node, reason (or false), at }
--   batch (optional): for a caller writing many events in one call, { clients, sessions, version }:
--     the occupancy after this event, which the caller counts, and the counter as last read or
--     written, which this call advances and the caller stores once at the end (SET c.seq).
--     Without it they are read and the counter INCRed here.
-- Returns the stream entry id.
local function emit_channel_event(c, maxlen, pubsub, ev, batch)
  local version, clients, sessions
  if batch then
    batch.version = batch.version + 1
    version, clients, sessions = batch.version, batch.clients, batch.sessions
  else
    version = redis.call('INCR', c.seq)
    clients = redis.call('ZCARD', c.clients)
    sessions = redis.call('HLEN', c.sessions)
  end
  local at = string.format('%d', ev.at)
  local fields = { 'type', ev.type, 'clientId', ev.clientId, 'sessionId', ev.sessionId, 'node', ev.node, 'at', at,
    'clients', clients, 'sessions', sessions, 'version', version }
  if ev.reason then
    fields[#fields + 1] = 'reason'
    fields[#fields + 1] = ev.reason
  end
  local id = redis.call('XADD', c.events, 'MAXLEN', '~', maxlen, '*', unpack(fields))
  local reason_json = 'null'
  if ev.reason then reason_json = cjson.encode(ev.reason) end
  redis.call('PUBLISH', pubsub, '{"id":' .. cjson.encode(id) ..
    ',"type":' .. cjson.encode(ev.type) ..
    ',"channel":' .. cjson.encode(ev.channel) ..
    ',"clientId":' .. cjson.encode(ev.clientId) ..
    ',"sessionId":' .. cjson.encode(ev.sessionId) ..
    ',"node":' .. cjson.encode(ev.node) ..
    ',"reason":' .. reason_json ..
    ',"at":' .. at ..
    ',"occupancy":{"clients":' .. clients .. ',"sessions":' .. sessions .. '}' ..
    ',"version":' .. version .. '}')
  return id
end
