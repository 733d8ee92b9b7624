-- Starts a source that no endpoint reads at the end of its stream, so that the fan-out begins with
-- the events that follow rather than walking the older ones (which the endpoints naming the source
-- would not take: they are older than the endpoints). For a channel named by a new endpoint and by
-- no other one. Refused when an endpoint change reached the source after the caller read its
-- version: an endpoint reading the source may exist now, and its cursor must stay where it is.
--
-- KEYS[1] cursor   STRING  last source entry id fanned out (absent: '0-0')
-- KEYS[2] version  STRING  endpoint changes seen by this source (absent: 0)
-- KEYS[3] events   STREAM  the source stream
-- ARGV[1] version  the version the caller read before it found that no endpoint reads the source
-- Returns 1 when the cursor was moved to the stream's last entry (or removed: the stream is empty),
-- 0 when refused.
local rcall = redis.call
local cursor_key, version_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local version = ARGV[1]

if (rcall('GET', version_key) or '0') ~= version then return 0 end
local last = rcall('XREVRANGE', events_key, '+', '-', 'COUNT', 1)[1]
if last then
  rcall('SET', cursor_key, last[1])
else
  rcall('DEL', cursor_key)
end
return 1
