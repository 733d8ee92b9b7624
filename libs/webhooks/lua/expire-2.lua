-- Moves the events of one lane that were queued before `cutoff` (their retry window is over) to
-- the lane's dead letters, oldest first, in one step.
--
-- KEYS[1] queue  STREAM the lane's queued events (`id`, `at`, `event`), entry id = when queued
-- KEYS[2] dead   STREAM the lane's dead letters (the queued entry's fields, `queuedAt`, `attempts`, `error`)
-- ARGV[1] cutoff     ms: entries with an id before <cutoff>-0 expire
-- ARGV[2] limit      most entries moved by this call
-- ARGV[3] attempts   delivery attempts made
-- ARGV[4] error      what the last attempt got
-- ARGV[5] maxlen     dead letters kept per lane, about (XADD MAXLEN ~)
-- Returns the number of entries moved (the caller calls again while it equals `limit`).
local rcall = redis.call
local queue_key, dead_key = KEYS[1], KEYS[2]
local cutoff, limit, attempts, err, maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]

-- Nothing is before 0-0 (and XRANGE refuses `(0-0` as an end).
if tonumber(cutoff) < 1 then return 0 end
local entries = rcall('XRANGE', queue_key, '-', '(' .. cutoff .. '-0', 'COUNT', limit)
for _, entry in ipairs(entries) do
  local id, fields = entry[1], entry[2]
  fields[#fields + 1] = 'queuedAt'
  fields[#fields + 1] = id
  fields[#fields + 1] = 'attempts'
  fields[#fields + 1] = attempts
  fields[#fields + 1] = 'error'
  fields[#fields + 1] = err
  rcall('XADD', dead_key, 'MAXLEN', '~', maxlen, '*', unpack(fields))
  rcall('XDEL', queue_key, id)
end
return #entries
