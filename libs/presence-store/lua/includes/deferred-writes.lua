-- Writes of a batch of session ends that no later step of the batch reads (see end_session),
-- collected and then issued once per key instead of once per session.
local function new_deferred()
  return { deadlines = {}, meta = {}, offline = {}, lastseen = {} }
end

-- Calls `command key list[i..]` in slices of `step` elements (Lua's unpack has a limit).
local function call_in_slices(command, key, list, step)
  for i = 1, #list, step do
    redis.call(command, key, unpack(list, i, math.min(i + step - 1, #list)))
  end
end

local function flush_deferred(k, d)
  call_in_slices('ZREM', k.deadlines, d.deadlines, 1000)
  call_in_slices('HDEL', k.meta, d.meta, 1000)
  call_in_slices('ZREM', k.online, d.offline, 1000)
  call_in_slices('HDEL', k.since, d.offline, 1000)
  -- Score/member pairs: an even slice length keeps each pair together.
  call_in_slices('ZADD', k.lastseen, d.lastseen, 1000)
end
