-- Appends one presence event to the shard's stream and publishes it on the channel, in the same
-- script as the transition it describes. Returns the stream entry id.
--   ev: { type, clientId, sessionId, node, reason (or false), at }
local function emit_event(events_key, maxlen, channel, shard, ev)
  local fields = { 'type', ev.type, 'clientId', ev.clientId, 'sessionId', ev.sessionId, 'node', ev.node,
    'at', tostring(ev.at) }
  if ev.reason then
    fields[#fields + 1] = 'reason'
    fields[#fields + 1] = ev.reason
  end
  local id = redis.call('XADD', events_key, 'MAXLEN', '~', maxlen, '*', unpack(fields))
  local reason_json = 'null'
  if ev.reason then reason_json = cjson.encode(ev.reason) end
  -- Built by hand so that `at` stays an integer and the key order is stable for readers.
  redis.call('PUBLISH', channel, '{"id":' .. cjson.encode(shard .. '-' .. id) ..
    ',"type":' .. cjson.encode(ev.type) ..
    ',"clientId":' .. cjson.encode(ev.clientId) ..
    ',"sessionId":' .. cjson.encode(ev.sessionId) ..
    ',"node":' .. cjson.encode(ev.node) ..
    ',"reason":' .. reason_json ..
    ',"at":' .. string.format('%d', ev.at) .. '}')
  return id
end
