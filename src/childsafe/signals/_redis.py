"""The signals' state in Redis, shared by every app server (``childsafe[redis]``).

The engine hands events to :meth:`RedisSignalStore.apply_events`: every rule of an
event in one Lua script, atomic on the server (a call of the script applies up to 16
events, one after another), many calls in one pipeline. The steps of
:class:`~childsafe.signals.SignalStore` are Lua scripts too, over the same keys:

- ``<prefix>{<adult>}:actor``, a hash: the adult's own state packed in field ``a``
  (scores ``best``, ``fan``, ``level``, ``flagged``; the lower bound ``rmin`` of the
  times in its reach set; the best pair's child), each child it has a history with as
  field ``p:<child>`` (the pair's state packed: the rules fired, the request window, the
  escalation steps, the score), and the evidence rows, each a field of its own: a ring
  of ``evidence_per_pair`` rows (row ``i`` in ``e<i % k>`` for the adult's own,
  ``e<i % k>:<child>`` for a pair's, with the rows ever added and the ring's size in the
  packed state). So an event reads the adult and the pair in one ``HMGET`` of two
  fields and writes them in one ``HSET``. The packed states are little-endian doubles
  (``_PAIR``, ``_ADULT``).
- ``<prefix>{<adult>}:reach``, a sorted set: each unconnected child the adult reached,
  scored by the last time, trimmed to the fan-out window.
- ``<prefix>block:<child>``, a hash: whom the child blocked or reported (and their
  identifiers), and when.
- ``<prefix>acct:<account>``, a hash: the band, assurance level and identifiers passed.
- ``<prefix>flagged``, a set: the adults ever flagged.

The adult's keys share a hash tag; the event script also touches the child's blocks,
the adult's account and the flagged set, so it needs one Redis server, not Redis
Cluster. Every key but the flagged set expires: the adult's hash ``ttl`` seconds after
its last event (its pairs with it; up to a second more: the event script sets an
adult's expiries at most once a second), the reach set after the window, blocks after
the block memory.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from childsafe.exceptions import MissingExtraError
from childsafe.signals._errors import SignalStoreError
from childsafe.signals._rules import Rule
from childsafe.signals._stores import EvidenceRow, FlagState, StoreEvent

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script
    from redis.typing import EncodableT

    from childsafe.signals._rules import SignalsConfig

__all__ = ["RedisSignalStore"]

DEFAULT_PREFIX: Final = "childsafe:signals:"
_CHUNK: Final = 64
"""Events written to the socket at a time in a pipeline (the server starts on them
while the next are packed)."""
_GROUP: Final = 16
"""Events a call of the event script applies, one after another (its fixed cost, about
a sixth of an event's, shared by them)."""
_Value: TypeAlias = bytes | str | int | float

# A pair's state and the adult's own are each packed in one field of the adult's hash, so
# an event reads two fields, whatever it does: little-endian doubles (``struct`` in Lua and
# in Python alike), which hold every count and every time exactly.
_PAIR: Final = "<dddddd"
"""Field ``p:<child>``: the rules fired (bits), the time of the connection request that
opened the escalation window (``-inf``: none), the escalation steps seen since (bits),
the pair's score, the evidence rows ever added and the size of their ring."""
_ADULT: Final = "<dddddddddB"
"""Field ``a``: the best pair score, the fan-out points, the fan-out level, the score
last flagged, the adult's own evidence rows ever added and the size of their ring,
``rmin`` (``-inf``: none), the second (the server's clock) when the event script last
set the hash's expiry and when it last set the reach set's, and 1 if the best pair's
child follows (its name: the rest of the value) else 0."""

# What every script starts with: the packed states and the ring of evidence. A ring keeps
# its last rows in fields of their own, row i (counted from 0) in 'e' .. i % k .. sfx, sfx
# '' for the adult's own rows and ':<child>' for a pair's, with n the rows ever added and
# k how many it keeps (both in the packed state); so adding a row writes one short field
# and reads none. A row is a JSON array [rule, time, kind, points, why] (a pair's child is
# its ring's). Nothing in the hash: zeros, and no time.
_COMMON: Final = (
    f"local PAIR, ADULT = '{_PAIR}', '{_ADULT}'\n"
    "local spack, sunpack = struct.pack, struct.unpack\n"
    "local NONE = -1 / 0\n"
    "local fmt = string.format\n"
    # Small integers as text: looked up, not formatted (string.format costs more).
    "local INT = {"
    + ", ".join(f"'{i}'" for i in range(32))
    + "}\n"
    + """
-- fired, req, esc, score, n, k
local function pair_get(v)
  if not v then return 0, NONE, 0, 0, 0, 0 end
  local fired, req, esc, score, n, k = sunpack(PAIR, v)
  return fired, req, esc, score, n, k
end

-- best, fan, level, flagged, n, k, rmin, x, rx, best_child (false: none)
local function adult_get(v)
  if not v then return 0, 0, 0, 0, 0, 0, NONE, 0, 0, false end
  local best, fan, level, flagged, n, k, rmin, x, rx, has, at = sunpack(ADULT, v)
  return best, fan, level, flagged, n, k, rmin, x, rx, has == 1 and string.sub(v, at)
end

local ADULT_CHILD = ADULT .. 'c0'
local function adult_put(best, fan, level, flagged, n, k, rmin, x, rx, child)
  if child then
    return spack(ADULT_CHILD, best, fan, level, flagged, n, k, rmin, x, rx, 1, child)
  end
  return spack(ADULT, best, fan, level, flagged, n, k, rmin, x, rx, 0)
end

local function ring_fields(n, k, sfx)
  local out = {}
  local m = math.min(n, k)
  for j = n - m, n - 1 do out[#out + 1] = 'e' .. (INT[j % k + 1] or fmt('%d', j % k)) .. sfx end
  return out
end

local function ring_get(key, n, k, sfx)
  if n == 0 then return {} end
  return redis.call('HMGET', key, unpack(ring_fields(n, k, sfx)))
end

-- The fields and values that add the first `count` of `rows` to the ring `sfx` kept at
-- `keep` rows, into `out` (for one HSET; a ring kept at another size first keeps its
-- newest rows, moved to `keep`); the new n (and the new k is `keep`).
local function ring_put(key, n, k, keep, rows, count, out, sfx)
  if n > 0 and k ~= keep then
    local old = ring_fields(n, k, sfx)
    local values = redis.call('HMGET', key, unpack(old))
    redis.call('HDEL', key, unpack(old))
    n = 0
    for j = math.max(#old - keep, 0) + 1, #old do
      if values[j] then
        out[#out + 1] = fmt('e%d', n) .. sfx; out[#out + 1] = values[j]; n = n + 1
      end
    end
  end
  for j = 1, count do
    local i = n % keep
    out[#out + 1] = 'e' .. (INT[i + 1] or fmt('%d', i)) .. sfx; out[#out + 1] = rows[j]
    n = n + 1
  end
  return n
end
"""
)

# The step scripts: KEYS[1] the adult's hash, a pair's state in its field 'p:<child>'. A
# write comes before the EXPIRE, so a hash a step creates expires too.
_FIRE: Final = (
    _COMMON
    + """
local field = 'p:' .. ARGV[3]
local fired, req, esc, score, n, k = pair_get(redis.call('HGET', KEYS[1], field))
local b = tonumber(ARGV[1])
local hit = bit.band(fired, b) == 0
if hit then
  redis.call('HSET', KEYS[1], field, spack(PAIR, bit.bor(fired, b), req, esc, score, n, k))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if hit then return 1 end
return 0
"""
)

# The reach set without the event script's lower bound 'rmin' of its times: the bound is
# dropped (the event script reads the set's oldest time again).
_REACH: Final = (
    _COMMON
    + """
local t = tonumber(ARGV[2])
local start = t - tonumber(ARGV[3])
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) < t then redis.call('ZADD', KEYS[1], t, ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. start)
redis.call('EXPIRE', KEYS[1], ARGV[4])
local v = redis.call('HGET', KEYS[2], 'a')
if v then
  local best, fan, level, flagged, n, k, rmin, x, rx, child = adult_get(v)
  if rmin ~= NONE then
    redis.call('HSET', KEYS[2], 'a', adult_put(best, fan, level, flagged, n, k, NONE, x, rx, child))
  end
end
return redis.call('ZCARD', KEYS[1])
"""
)

_RAISE: Final = (
    _COMMON
    + """
local best, fan, level, flagged, n, k, rmin, x, rx, child =
  adult_get(redis.call('HGET', KEYS[1], 'a'))
local v = tonumber(ARGV[2])
local before = level
if ARGV[1] == 'flagged' then before = flagged end
if v > before then
  if ARGV[1] == 'flagged' then
    flagged = v
    redis.call('SADD', KEYS[2], ARGV[4])
  else
    level = v
  end
  redis.call('HSET', KEYS[1], 'a', adult_put(best, fan, level, flagged, n, k, rmin, x, rx, child))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if v <= before then return -1 end
return before
"""
)

_REQUEST: Final = (
    _COMMON
    + """
local field = 'p:' .. ARGV[4]
local fired, req, esc, score, n, k = pair_get(redis.call('HGET', KEYS[1], field))
local t = tonumber(ARGV[1])
if req == NONE or t - req > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], field, spack(PAIR, fired, t, 0, score, n, k))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""
)

_ESCALATE: Final = (
    _COMMON
    + """
local field = 'p:' .. ARGV[4]
local fired, req, esc, score, n, k = pair_get(redis.call('HGET', KEYS[1], field))
if req == NONE then return 0 end
local d = tonumber(ARGV[2]) - req
if d < 0 or d > tonumber(ARGV[3]) then return 0 end
esc = bit.bor(esc, tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], field, spack(PAIR, fired, req, esc, score, n, k))
return esc
"""
)

# A row of evidence: ARGV the row, its points, its ring's suffix ('' for the adult's own,
# ':<child>' for a pair's), the ring's size and the hash's time to live.
_EVIDENCE: Final = (
    _COMMON
    + """
local pts, keep, sfx = tonumber(ARGV[2]), tonumber(ARGV[4]), ARGV[3]
local v = redis.call('HMGET', KEYS[1], 'a', 'p' .. sfx)
local best, fan, level, flagged, an, ak, rmin, x, rx, best_child = adult_get(v[1])
local w = {}
if sfx == '' then
  fan = fan + pts
  an, ak = ring_put(KEYS[1], an, ak, keep, {ARGV[1]}, 1, w, ''), keep
else
  local fired, req, esc, score, n, k = pair_get(v[2])
  score = score + pts
  n = ring_put(KEYS[1], n, k, keep, {ARGV[1]}, 1, w, sfx)
  w[#w + 1] = 'p' .. sfx; w[#w + 1] = spack(PAIR, fired, req, esc, score, n, keep)
  if score > best then best, best_child = score, string.sub(sfx, 2) end
end
w[#w + 1] = 'a'; w[#w + 1] = adult_put(best, fan, level, flagged, an, ak, rmin, x, rx, best_child)
redis.call('HSET', KEYS[1], unpack(w))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return best + fan
"""
)

# A pair's score and rows (ARGV[1] ':<child>') or the adult's best, fan-out points, best
# child and own rows (ARGV[1] ''), read at once.
_READ: Final = (
    _COMMON
    + """
local sfx = ARGV[1]
if sfx == '' then
  local best, fan, level, flagged, n, k, rmin, x, rx, child =
    adult_get(redis.call('HGET', KEYS[1], 'a'))
  return {best, fan, child, ring_get(KEYS[1], n, k, '')}
end
local fired, req, esc, score, n, k = pair_get(redis.call('HGET', KEYS[1], 'p' .. sfx))
return {score, ring_get(KEYS[1], n, k, sfx)}
"""
)


# Every rule of an event in one script: the engine's steps in order (see ``Signals``), the
# state read once (two fields), changed in Lua, written once, the flag settled at the end;
# a call applies several events, one after another. ARGV: each event's number of
# arguments, then its arguments (see ``StoreEvent``): the step, allowed and stranger as
# one string ("a10"), the kind, the adult, the child, the time, mutual connections, the
# adult's band if known, then for a text the off-platform points and explanation and the
# phrase points and explanation. Times are passed as Python's ``repr``: read as doubles
# and written as given in rows, so they round-trip exactly. Every key is named from the
# prefix and the two accounts (so one standalone Redis or one primary, not Redis
# Cluster). The @NAME@ constants come from the engine's SignalsConfig.
#
# Expiry: an EXPIRE is a call and a write of its own (about a twentieth of an event's
# server instructions, and one more command for replicas), so the script sets the adult's
# hash's (and its reach set's) once a second of the server's clock per adult, noting the
# second in the adult's state; the hash lives TTL (a second more than
# the store's ttl) from then, so still at least ttl after the adult's last event. A reach
# set that holds only the child just added may be new: its expiry is always set.
_EVENT: Final = (
    _COMMON
    + """
local KEEP = @KEEP@
local P = "@PREFIX@"
local NOW = tonumber(redis.call('TIME')[1])
-- What the rules change in the event at hand, in one table `fire` and `add` share (made
-- once a call, not once an event; a closure over many locals costs more to make); its
-- rows, `np` of them in `prows` for the pair and `na` in `arows` for the adult.
local s = {prows = {}, arows = {}}

local function fan_points(l)
  if l < @FAN_CHILDREN@ then return 0 end
  return @FAN_POINTS@ + math.min(l - @FAN_CHILDREN@, 8) * @FAN_EXTRA@
end

local function fire(b)
  local f = s.fired
  if bit.band(f, b) ~= 0 then return false end
  s.fired = bit.bor(f, b)
  return true
end

-- A row of evidence, a JSON array: the points also as text (`text`), the explanation
-- `why` as a JSON string (every explanation built here is plain text, nothing to escape).
local function add(pair, rule, pts, text, why)
  local row = '[' .. rule .. ',' .. s.ts .. ',"' .. s.kind .. '",' .. text .. ',' .. why .. ']'
  if pair then
    local np = s.np + 1
    s.prows[np], s.np = row, np
    local score = s.pscore + pts
    s.pscore = score
    if score > s.best then s.best, s.best_child = score, s.C end
  else
    local na = s.na + 1
    s.arows[na], s.na = row, na
    s.fan = s.fan + pts
  end
  s.total = s.best + s.fan
end

-- One event, its arguments as ``StoreEvent`` has them: -1, or the adult's previous
-- flagged score if the event raised its flag (with the state, the adult's state then).
local function event(head, kind, A, C, ts, mutual, band_given, off_text, off_why, phrase_text,
                     phrase_why)
  local op = string.sub(head, 1, 1)
  local t = ts + 0
  local ka, kblock = P .. '{' .. A .. '}:actor', P .. 'block:' .. C
  local fp = 'p:' .. C

  -- The adult's hash: its own state in 'a', the pair's in 'p:<child>'.
  local v = redis.call('HMGET', ka, 'a', fp)
  local va, vp = v[1], v[2]
  local fired, req, esc, pscore, pn, pk = 0, NONE, 0, 0, 0, 0
  if vp then fired, req, esc, pscore, pn, pk = sunpack(PAIR, vp) end
  local best, fan, level, flagged, an, ak, rmin, x, rx, best_child =
    0, 0, 0, 0, 0, 0, NONE, 0, 0, false
  if va then
    local has, at
    best, fan, level, flagged, an, ak, rmin, x, rx, has, at = sunpack(ADULT, va)
    if has == 1 then best_child = string.sub(va, at) end
  end
  s.fired, s.pscore, s.best, s.best_child, s.fan, s.total = fired, pscore, best, best_child,
    fan, -1
  s.np, s.na = 0, 0
  s.kind, s.ts, s.C = kind, ts, C
  local req0, esc0, level0, rmin0, rx0 = req, esc, level, rmin, rx

  if op == 'b' then
    redis.call('HSET', kblock, A, ts)
    local ids = redis.call('HGET', P .. 'acct:' .. A, 'idents')
    for _, i in ipairs(ids and cjson.decode(ids) or {}) do
      redis.call('HSET', kblock, 'ident:' .. i, ts)
    end
    redis.call('EXPIRE', kblock, '@BLOCK_EXPIRE@')
    if bit.band(s.fired, 1) ~= 0 then
      local band = band_given
      if band == '' then band = redis.call('HGET', P .. 'acct:' .. A, 'band') or '' end
      if band == 'adult' and fire(128) then
        local verb = 'reported'
        if kind == 'block' then verb = 'blocked' end
        add(true, @R_AFTER_BLOCK@, @BLOCKED_POINTS@, '@BLOCKED_POINTS@',
            '"the child ' .. verb .. ' this adult stranger after being contacted"')
      end
    end
  elseif op == 'w' then
    fire(64)
  elseif op == 'c' then
    if req == NONE or t - req > @ESC_WINDOW@ then req, esc = t, 0 end
    if fire(1) then
      add(true, @R_STRANGER_CONTACT@, @STRANGER_POINTS@, '@STRANGER_POINTS@',
          '"the child sent an adult stranger a ' .. (string.gsub(kind, '_', ' ')) .. '"')
    end
  else
    if string.sub(head, 3, 3) == '1'
       and (kind ~= 'message' or @COUNT_REPLIES@ or bit.band(s.fired, 64) == 0) then
      if fire(1) then
        add(true, @R_STRANGER_CONTACT@, @STRANGER_POINTS@, '@STRANGER_POINTS@', '"' .. kind
            .. ' from an adult to a minor with no connection and ' .. mutual
            .. ' mutual connection(s)"')
      end
      if string.sub(head, 2, 2) == '0' and fire(2) then
        add(true, @R_STRANGER_CONTACT@, @DENIED_POINTS@, '@DENIED_POINTS@',
            '"a denied ' .. kind .. ': the adult tried to reach the child anyway"')
      end
      -- The distinct children reached within the window: the reach set keeps each child's
      -- last time; 'rmin' is at most the oldest of them, so the set is trimmed (and its
      -- oldest read again) only once a time in it may have left the window.
      local kreach = P .. '{' .. A .. '}:reach'
      local start = t - @FAN_WINDOW@
      redis.call('ZADD', kreach, 'GT', ts, C)
      local distinct = redis.call('ZCARD', kreach)
      if rx ~= NOW or distinct == 1 then
        redis.call('EXPIRE', kreach, '@FAN_EXPIRE@')
        rx = NOW
      end
      if rmin == NONE or rmin < start then
        if distinct == 1 then
          rmin = t
        else
          redis.call('ZREMRANGEBYSCORE', kreach, '-inf', fmt('(%.17g', start))
          local oldest = redis.call('ZRANGE', kreach, 0, 0, 'WITHSCORES')
          rmin = tonumber(oldest[2])
          distinct = redis.call('ZCARD', kreach)
        end
      elseif t < rmin then
        rmin = t
      end
      if distinct >= @FAN_CHILDREN@ and distinct > level then
        local more = fan_points(distinct) - fan_points(level)
        level = distinct
        if more > 0 then
          add(false, @R_FAN_OUT@, more, INT[more + 1] or fmt('%d', more), '"reached '
              .. (INT[distinct + 1] or fmt('%d', distinct))
              .. ' distinct unconnected minors within ' .. @FAN_HOURS@ .. ' hours"')
        end
      end
      if (kind == 'friend_request' or kind == 'follow')
         and (req == NONE or t - req > @ESC_WINDOW@) then
        req, esc = t, 0
      end
    end
    local eb = (kind == 'message' and 1) or (kind == 'media_request' and 2)
      or (kind == 'link' and 4)
    if eb and req ~= NONE and t - req >= 0 and t - req <= @ESC_WINDOW@ then
      esc = bit.bor(esc, eb)
      local names = {}
      if bit.band(esc, 1) ~= 0 then names[#names + 1] = 'message' end
      if bit.band(esc, 2) ~= 0 then names[#names + 1] = 'media_request' end
      if bit.band(esc, 4) ~= 0 then names[#names + 1] = 'link' end
      if #names >= @ESC_STEPS@ and fire(4) then
        add(true, @R_ESCALATION@, @ESC_POINTS@, '@ESC_POINTS@', '"' .. table.concat(names, ' and ')
            .. ' within ' .. @ESC_HOURS@ .. ' hours of a connection request between an adult '
            .. 'stranger and the child"')
      end
    end
    if off_text then
      local off = tonumber(off_text)
      if off > 0 and fire(8) then
        add(true, @R_OFF_PLATFORM@, off, off_text, cjson.encode(off_why))
      end
      local phrase = tonumber(phrase_text)
      if phrase > 0 and fire(16) then
        add(true, @R_SECRECY@, phrase, phrase_text, cjson.encode(phrase_why))
      end
    end
    if redis.call('EXISTS', kblock) == 1 then
      local found = redis.call('HGET', kblock, A)
      local direct = found ~= false
      if not found then
        local ids = redis.call('HGET', P .. 'acct:' .. A, 'idents')
        for _, i in ipairs(ids and cjson.decode(ids) or {}) do
          found = redis.call('HGET', kblock, 'ident:' .. i)
          if found then break end
        end
      end
      if found and t - tonumber(found) <= @BLOCK_MEMORY@ and fire(32) then
        local why = '"a ' .. kind .. ' from an account sharing an identifier with an account '
          .. 'the child blocked or reported"'
        if direct then
          why = '"a ' .. kind .. ' after the child blocked or reported this account"'
        end
        add(true, @R_AFTER_BLOCK@, @AFTER_BLOCK_POINTS@, '@AFTER_BLOCK_POINTS@', why)
      end
    end
  end

  local fired1, pscore1, best1, fan1, total = s.fired, s.pscore, s.best, s.fan, s.total
  local np, na = s.np, s.na
  best_child = s.best_child
  local before = -1
  if total >= @FLAG_SCORE@ and total > flagged then
    before = flagged
    flagged = total
    if before == 0 then redis.call('SADD', P .. 'flagged', A) end
  end
  -- One write of the states that changed, and of the new rows.
  local w = {}
  if np > 0 then pn, pk = ring_put(ka, pn, pk, KEEP, s.prows, np, w, ':' .. C), KEEP end
  if np > 0 or fired1 ~= fired or req ~= req0 or esc ~= esc0 then
    w[#w + 1] = fp; w[#w + 1] = spack(PAIR, fired1, req, esc, pscore1, pn, pk)
  end
  if na > 0 then an, ak = ring_put(ka, an, ak, KEEP, s.arows, na, w, ''), KEEP end
  local adult = na > 0 or best1 ~= best or fan1 ~= fan or level ~= level0 or before >= 0
    or rmin ~= rmin0 or rx ~= rx0
  local writes = adult or #w > 0
  local renew = (writes or op ~= 'b') and x ~= NOW
  if renew and (writes or va) then x, adult = NOW, true end
  if adult then
    w[#w + 1] = 'a'
    w[#w + 1] = adult_put(best1, fan1, level, flagged, an, ak, rmin, x, rx, best_child)
  end
  if #w > 0 then redis.call('HSET', ka, unpack(w)) end
  if renew then redis.call('EXPIRE', ka, '@TTL@') end
  if before < 0 or not @STATE@ then return before end
  local best_rows = {}
  if best_child == C then
    best_rows = ring_get(ka, pn, pk, ':' .. C)
  elseif best_child then
    local b = ':' .. best_child
    local _, _, _, _, n, k = pair_get(redis.call('HGET', ka, 'p' .. b))
    best_rows = ring_get(ka, n, k, b)
  end
  return {before, best1, fan1, best_child, ring_get(ka, an, ak, ''), best_rows}
end

-- ARGV: the events one after another, each its number of arguments then the arguments;
-- each event applied in turn, each reply in turn.
local out, i = {}, 1
while ARGV[i] do
  local n = ARGV[i] + 0
  out[#out + 1] = event(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return out
"""
)


def _lua_number(value: float) -> str:
    if isinstance(value, bool) or not math.isfinite(value):  # pragma: no cover - validated
        raise SignalStoreError(f"RedisSignalStore: cannot pass {value!r} to Lua")
    return repr(value)


def _event_source(config: SignalsConfig, ttl: int, prefix: str, state: bool) -> str:
    """The event script with ``config``'s parameters, the key prefix and whether to
    return the actor's state with a flag written in."""
    hours = {
        "FAN_HOURS": json.dumps(f"{config.fan_out_window / 3600:g}"),
        "ESC_HOURS": json.dumps(f"{config.escalation_window / 3600:g}"),
    }
    rules = {f"R_{r.name}": json.dumps(json.dumps(r.value)) for r in Rule}
    numbers = {
        "TTL": ttl,
        "KEEP": config.evidence_per_pair,
        "FAN_CHILDREN": config.fan_out_children,
        "FAN_POINTS": config.fan_out_points,
        "FAN_EXTRA": config.fan_out_extra_points,
        "FAN_WINDOW": config.fan_out_window,
        "FAN_EXPIRE": math.ceil(config.fan_out_window) + 1,
        "ESC_WINDOW": config.escalation_window,
        "ESC_STEPS": config.escalation_steps,
        "ESC_POINTS": config.escalation_points,
        "STRANGER_POINTS": config.stranger_points,
        "DENIED_POINTS": config.denied_points,
        "BLOCKED_POINTS": config.blocked_points,
        "AFTER_BLOCK_POINTS": config.after_block_points,
        "BLOCK_MEMORY": config.block_memory,
        "BLOCK_EXPIRE": math.ceil(config.block_memory),
        "FLAG_SCORE": config.flag_score,
    }
    values = {k: _lua_number(v) for k, v in numbers.items()}
    values.update(hours)
    values.update(rules)
    values["COUNT_REPLIES"] = "true" if config.count_replies else "false"
    values["STATE"] = "true" if state else "false"
    values["PREFIX"] = "".join(f"\\{b}" for b in prefix.encode())
    source = _EVENT
    for name, value in values.items():
        source = source.replace(f"@{name}@", value)
    assert "@" not in source, "every constant of the event script is written in"
    return source


def _driver() -> tuple[Any, type[Exception]]:
    try:
        import redis  # noqa: PLC0415 - the extra is imported only when used
    except ImportError as e:  # pragma: no cover - the dev environment has redis
        raise MissingExtraError(
            "RedisSignalStore needs the redis driver: pip install 'childsafe[redis]'"
        ) from e
    return redis.Redis, redis.RedisError


def _rows(items: Sequence[bytes | None], child: str | None) -> list[EvidenceRow]:
    """Evidence rows of ``child``'s ring (``None``: the adult's own) from their JSON
    arrays, oldest first."""
    out: list[EvidenceRow] = []
    for item in items:
        if item is not None:
            r = json.loads(item)
            out.append((r[0], r[1], r[2], child, r[3], r[4]))
    return out


def _flag_state(reply: Any) -> FlagState | None:  # noqa: ANN401 - a script's reply
    if not isinstance(reply, list):
        return None if reply < 0 else (int(reply), 0, 0, None, [], [])
    before, best, fan, child, actor_rows, pair_rows = reply
    name = None if child is None else bytes(child).decode()
    return int(before), int(best), int(fan), name, _rows(actor_rows, None), _rows(pair_rows, name)


class RedisSignalStore:
    """The state in Redis, shared by every app server.

    ``client`` is a ``redis.Redis``; :meth:`from_url` builds one. ``ttl`` is how long
    an actor's state (pairs, evidence, scores) is kept after its last activity (up to
    a second more).
    """

    shared = True

    def __init__(
        self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, ttl: float = 30 * 86400.0
    ) -> None:
        _, self._error = _driver()
        given: object = prefix
        if not isinstance(given, str) or not given:
            raise SignalStoreError(
                f"RedisSignalStore: prefix must be a non-empty string, got {prefix!r}"
            )
        seconds: object = ttl
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 1:
            raise SignalStoreError(f"RedisSignalStore: ttl must be at least 1 second, got {ttl!r}")
        self.client = client
        self.prefix = prefix
        self._ttl = math.ceil(ttl)
        # The adult's hash: a second more (the event script sets its expiry once a second).
        self._actor_ttl = self._ttl + 1
        self._fire = client.register_script(_FIRE)
        self._reach = client.register_script(_REACH)
        self._raise = client.register_script(_RAISE)
        self._request = client.register_script(_REQUEST)
        self._escalate = client.register_script(_ESCALATE)
        self._evidence = client.register_script(_EVIDENCE)
        self._read = client.register_script(_READ)
        self._events: dict[tuple[SignalsConfig, bool], Script] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisSignalStore:  # noqa: ANN401 - passed on
        """A store on the Redis server at ``url`` (``redis://host:6379/0``)."""
        client_cls, _ = _driver()
        return cls(client_cls.from_url(url), **kwargs)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:  # noqa: ANN401 - Redis replies
        try:
            return fn()
        except self._error as e:
            raise SignalStoreError(f"cannot {what} in Redis ({self.prefix!r}): {e}") from e

    def _key(self, actor: str, part: str = "actor") -> str:
        return f"{self.prefix}{{{actor}}}:{part}"

    def set_account(
        self, account: str, band: str | None, assurance: str | None, idents: tuple[str, ...]
    ) -> None:
        mapping: dict[EncodableT, EncodableT] = {}
        if band is not None:
            mapping["band"] = band
        if assurance is not None:
            mapping["assurance"] = assurance
        if idents:
            mapping["idents"] = json.dumps(idents)
        if mapping:
            key = f"{self.prefix}acct:{account}"

            def write() -> None:
                pipe = self.client.pipeline(transaction=True)
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, self._ttl)
                pipe.execute()

            self._call("record an account", write)

    def _account_field(self, account: str, field: str) -> str | None:
        value = self._call(
            "read an account", lambda: self.client.hget(f"{self.prefix}acct:{account}", field)
        )
        return None if value is None else bytes(value).decode()

    def band(self, account: str) -> str | None:
        return self._account_field(account, "band")

    def idents(self, account: str) -> tuple[str, ...]:
        value = self._account_field(account, "idents")
        return () if value is None else tuple(json.loads(value))

    def apply_events(
        self, config: SignalsConfig, events: Sequence[StoreEvent], *, state: bool = True
    ) -> list[FlagState | None]:
        """Every rule on each event in one Lua script (atomic on the server, up to
        ``_GROUP`` events a call, one after another); one event is one round trip,
        several go in one pipeline (not a transaction: each call is atomic by itself,
        and they run in order). Without ``state``, a flag comes back without the
        actor's evidence."""
        script = self._events.get((config, state))
        if script is None:
            source = _event_source(config, self._actor_ttl, self.prefix, state)
            script = self._events[config, state] = self.client.register_script(source)
        if len(events) == 1:
            args = [str(len(events[0])), *events[0]]
            return [_flag_state(self._call("apply an event", lambda: script(args=args)[0]))]
        replies = self._call(f"apply {len(events)} events", lambda: self._pipeline(script, events))
        return [_flag_state(r) for r in replies]

    def _pipeline(self, script: Script, events: Sequence[StoreEvent]) -> list[Any]:
        """An ``EVALSHA`` for each ``_GROUP`` events, written in chunks on one connection
        while the server works through the ones before (not a transaction: each call is
        atomic by itself, and they run in order), then every reply read. If the server
        lost the script (restarted, ``SCRIPT FLUSH``), the calls refused for it are sent
        again, in order, once it is loaded."""
        replies: list[Any] = [None] * len(events)
        todo = list(range(0, len(events), _GROUP))
        for attempt in range(2):
            lost = self._send(script, events, todo, replies)
            if not lost:
                return replies
            if attempt == 0:
                self.client.script_load(script.script)
            todo = lost
        raise self._error(f"the event script was lost again while {len(todo)} calls waited")

    def _send(
        self, script: Script, events: Sequence[StoreEvent], todo: list[int], replies: list[Any]
    ) -> list[int]:
        from redis.exceptions import NoScriptError, ResponseError  # noqa: PLC0415

        head = b"$7\r\nEVALSHA\r\n$40\r\n" + script.sha.encode() + b"\r\n$1\r\n0\r\n"
        pool = self.client.connection_pool
        conn: Any = pool.get_connection()
        lost: list[int] = []
        try:
            chunk: list[bytes] = []
            packed = 0
            for n, i in enumerate(todo, 1):
                group = events[i : i + _GROUP]
                chunk.append(b"*%d\r\n" % (sum(len(e) + 1 for e in group) + 3))
                chunk.append(head)
                for e in group:
                    chunk.append(b"$%d\r\n%d\r\n" % (len(str(len(e))), len(e)))
                    for arg in e:
                        data = arg.encode()
                        chunk.append(b"$%d\r\n%b\r\n" % (len(data), data))
                packed += len(group)
                if packed >= _CHUNK or n == len(todo):
                    conn.send_packed_command([b"".join(chunk)], check_health=False)
                    chunk, packed = [], 0
            error: ResponseError | None = None
            for i in todo:
                try:
                    got = conn.read_response()
                except NoScriptError:
                    lost.append(i)
                    continue
                except ResponseError as e:  # read on, so the connection stays in step
                    error = error or e
                    continue
                if isinstance(got, list) and len(got) == len(events[i : i + _GROUP]):
                    replies[i : i + len(got)] = got
                else:
                    error = error or ResponseError(f"the event script answered {got!r}")
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
        if error is not None:
            raise error
        return lost

    def bands(self, accounts: Sequence[str]) -> list[str | None]:
        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for a in accounts:
                pipe.hget(f"{self.prefix}acct:{a}", "band")
            return pipe.execute()

        values = self._call("read accounts", read) if accounts else []
        return [None if v is None else bytes(v).decode() for v in values]

    def fire(self, actor: str, child: str, bit: int) -> bool:
        keys = [self._key(actor)]
        args: list[_Value] = [bit, self._actor_ttl, child]
        return bool(self._call("fire a rule", lambda: self._fire(keys=keys, args=args)))

    def mask(self, actor: str, child: str) -> int:
        key = self._key(actor)
        value = self._call("read a pair", lambda: self.client.hget(key, f"p:{child}"))
        return 0 if value is None else int(struct.unpack_from(_PAIR, value)[0])

    def reach(self, actor: str, child: str, t: float, window: float) -> int:
        keys = [self._key(actor, "reach"), self._key(actor)]
        args: list[_Value] = [child, repr(t), repr(window), math.ceil(window) + 1]
        return int(self._call("count a window", lambda: self._reach(keys=keys, args=args)))

    def _raise_field(self, actor: str, field: str, value: int) -> int | None:
        keys = [self._key(actor), f"{self.prefix}flagged"]
        before = int(
            self._call(
                f"raise the {field}",
                lambda: self._raise(keys=keys, args=[field, value, self._actor_ttl, actor]),
            )
        )
        return None if before < 0 else before

    def raise_level(self, actor: str, level: int) -> int | None:
        return self._raise_field(actor, "level", level)

    def raise_flag(self, actor: str, total: int) -> int | None:
        return self._raise_field(actor, "flagged", total)

    def request(self, actor: str, child: str, t: float, window: float) -> None:
        keys = [self._key(actor)]
        args: list[_Value] = [repr(t), repr(window), self._actor_ttl, child]
        self._call("open a request window", lambda: self._request(keys=keys, args=args))

    def escalate(self, actor: str, child: str, bit: int, t: float, window: float) -> int:
        keys = [self._key(actor)]
        args: list[_Value] = [bit, repr(t), repr(window), child]
        return int(self._call("escalate", lambda: self._escalate(keys=keys, args=args)))

    def add_evidence(self, actor: str, row: EvidenceRow, keep: int) -> int:
        keys = [self._key(actor)]
        text = json.dumps([row[0], row[1], row[2], row[4], row[5]])
        ring = "" if row[3] is None else f":{row[3]}"
        args: list[_Value] = [text, row[4], ring, keep, self._actor_ttl]
        return int(self._call("add evidence", lambda: self._evidence(keys=keys, args=args)))

    def block(self, child: str, other: str, t: float, idents: tuple[str, ...], keep: float) -> None:
        key = f"{self.prefix}block:{child}"
        mapping: dict[EncodableT, EncodableT] = {other: repr(t)}
        mapping.update({"ident:" + i: repr(t) for i in idents})

        def write() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, math.ceil(keep))
            pipe.execute()

        self._call("record a block", write)

    def blocked_since(
        self, child: str, actor: str, idents: tuple[str, ...]
    ) -> tuple[float, bool] | None:
        fields = [actor, *("ident:" + i for i in idents)]
        values = self._call(
            "read blocks", lambda: self.client.hmget(f"{self.prefix}block:{child}", fields)
        )
        for i, value in enumerate(values):
            if value is not None:
                return float(value), i == 0
        return None

    def any_blocks(self) -> bool:
        return True

    def pair(self, actor: str, child: str) -> tuple[int, list[EvidenceRow]]:
        keys = [self._key(actor)]
        args = [f":{child}"]
        score, rows = self._call("read a pair", lambda: self._read(keys=keys, args=args))
        return int(score), _rows(rows, child)

    def actor(self, actor: str) -> tuple[int, int, str | None, list[EvidenceRow]]:
        keys = [self._key(actor)]
        args = [""]
        best, fan, best_child, rows = self._call(
            "read an actor", lambda: self._read(keys=keys, args=args)
        )
        child = None if best_child is None else bytes(best_child).decode()
        return int(best), int(fan), child, _rows(rows, None)

    def flagged(self) -> list[str]:
        members = self._call(
            "read the flagged actors", lambda: self.client.smembers(f"{self.prefix}flagged")
        )
        return sorted(bytes(m).decode() for m in members)
