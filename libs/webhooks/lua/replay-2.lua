-- Puts dead letters of one lane back at the end of its queue (queued again now, with a new retry
-- window), in one step. With no ids, the oldest `limit` ones.
--
-- KEYS[1] dead   STREAM the lane's dead letters (`id`, `at`, `event`, `queuedAt`, `attempts`, `error`)
-- KEYS[2] queue  STREAM the lane's queued events (`id`, `at`, `event`)
-- ARGV[1] limit  most entries moved when no ids are given
-- ARGV[2..] dead-letter entry ids to replay (ids not there are skipped)
-- Returns {moved, wasEmpty}: wasEmpty is 1 when the queue was empty before (the endpoint needs a
-- delivery job).
local rcall = redis.call
local dead_key, queue_key = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[1])

local entries
if #ARGV > 1 then
  entries = {}
  for k = 2, #ARGV do
    local found = rcall('XRANGE', dead_key, ARGV[k], ARGV[k])
    if found[1] then entries[#entries + 1] = found[1] end
  end
else
  entries = rcall('XRANGE', dead_key, '-', '+', 'COUNT', limit)
end

local was_empty = 0
if #entries > 0 and rcall('XLEN', queue_key) == 0 then was_empty = 1 end
for _, entry in ipairs(entries) do
  local id, fields = entry[1], entry[2]
  local queued = {}
  for k = 1, #fields, 2 do
    if fields[k] == 'id' or fields[k] == 'at' or fields[k] == 'event' then
      queued[#queued + 1] = fields[k]
      queued[#queued + 1] = fields[k + 1]
    end
  end
  rcall('XADD', queue_key, '*', unpack(queued))
  rcall('XDEL', dead_key, id)
end
return { #entries, was_empty }
