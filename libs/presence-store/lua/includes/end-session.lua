-- Ends one session of a client for good. If it was the client's last session (lingering ones
-- count until they end), the client goes offline: it leaves the online set, its last-seen time is
-- recorded and an offline event is written.
-- Idempotent: a session that is already gone changes nothing and writes no event, so two racing
-- callers (two sweepers, an edge and a sweeper) produce one event between them.
--   k: { deadlines, client, meta, online, since, lastseen, events }
-- Returns: false when the session did not exist, 0 when it ended and the client stays online,
-- or the offline event's stream id.
local function end_session(k, session_id, client_id, reason, at, maxlen, channel, shard)
  local record = redis.call('HGET', k.client, session_id)
  if not record then
    redis.call('ZREM', k.deadlines, session_id .. '|' .. client_id)
    return false
  end
  local node = cjson.decode(record).node
  redis.call('HDEL', k.client, session_id)
  redis.call('HDEL', k.meta, session_id)
  redis.call('ZREM', k.deadlines, session_id .. '|' .. client_id)
  if redis.call('HLEN', k.client) > 0 then
    return 0
  end
  return go_offline(k, client_id, session_id, node, reason, at, maxlen, channel, shard)
end
