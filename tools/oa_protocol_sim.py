#!/usr/bin/python3
"""Randomized interleaving check of the open-addressing deletion protocol of
docs/graph-index.md, before anyone writes it in C.

A tiny linear-probing table (few slots, so probe runs are long and wrap)
takes concurrent find-or-insert calls of a few keys, while one reclaimer
deletes keys whose inserts have all returned and turns tombstones back into
empty slots. Every step below that touches a slot is one atomic load, store
or CAS, and threads interleave at random between steps: a sequentially
consistent model (the C code needs seq_cst on the claim/validation and
mark/scan pairs, see the doc). After every step it checks:

  I1  at most one FINAL entry per key;
  I2  every FINAL entry is reachable: no EMPTY slot between its key's home
      and its slot;
and at the end of each trial:
  I3  every insert of a key returned the slot of that key's one FINAL entry.

Usage: tools/oa_protocol_sim.py [--freeze] [TRIALS] [SEED] [BUG|-] [TRIAL]
(exit 1 on a violation, with the trial's last slot writes). BUG names a
step to leave out, to check that the checks catch it: pass2 (the
resolver's second pass), crossing (the reclaimer's test), reread (reading
a slot again when a veto fails), withdraw (the owner of a lost claim
withdrawing it); TRIAL replays one trial.

As lib/graph does, the owner of a claim that lost withdraws it (CAS
TENTATIVE -> TOMB), and takes it as the winner if a helper made it FINAL
meanwhile.

--freeze models a table of trace objects, whose key stops matching while
inserts of it run: each claim creates an incarnation, which a freezer may
kill at any step (a trace completing); an entry of a dead incarnation no
longer matches its key, so a later insert creates a new one. An insert
returns only after registering on a live incarnation (else it inserts
again); the creator of an incarnation holds a registration until its
insert ends; the reclaimer deletes a dead incarnation's entry once no one
is registered on it. Checked after every step: at most one FINAL entry of
a live incarnation per key (I1), each reachable (I2), no entry of a
deleted incarnation (I4); at the end, no TENTATIVE entry left (I5).

SPDX-License-Identifier: Apache-2.0
"""
import random
import sys

EMPTY, TOMB, PENDING = "E", "T", "P"
STATS = {"claims": 0, "kills": 0, "vetoes": 0, "withdrawn": 0, "emptied": 0,
         "reverted": 0, "deleted": 0}
BUGS = set()  # names of protocol steps to leave out (checks the checker)
FREEZE = False  # --freeze: keys stop matching (see the top)
LOG = []      # the current trial's slot writes, printed on a violation
TRIAL_HOMES = {}
TENT, FINAL = "tent", "final"


class Inc:
    """An incarnation of a key (a trace object): alive until frozen."""
    __slots__ = ("key", "alive", "registered", "deleted")

    def __init__(self, key):
        self.key, self.alive, self.registered, self.deleted = key, True, 1, False


class Entry:
    __slots__ = ("key", "state", "owner", "inc")

    def __init__(self, key, state, owner, inc):
        self.key, self.state, self.owner, self.inc = key, state, owner, inc

    def __repr__(self):
        return "%s:%s" % (self.key, self.state[0])


class Table:
    def __init__(self, n, homes):
        self.s = [EMPTY] * n
        self.n = n
        self.home = homes

    def cas(self, p, old, new):
        if self.s[p] is old:
            self.s[p] = new
            LOG.append("%s -> %s at %d: %s" % (old, new, p, self.s))
            return True
        return False


def is_entry(v, key=None):
    """An entry; of key (and of a live incarnation) when key is given."""
    return isinstance(v, Entry) and (key is None or (v.key == key and v.inc.alive))


def resolve(t, key):
    """Helps every entry of key to a decision; yields between atomic steps.
    Returns (slot, entry) of the key's FINAL entry, or None when there is
    none any more (the caller inserts again)."""
    while True:
        # Pass 1: the run from home to the first empty slot.
        seen = []
        p = t.home[key]
        for _ in range(t.n):
            v = t.s[p]
            yield
            if v is EMPTY:
                break
            if is_entry(v, key):
                seen.append((p, v))
            p = (p + 1) % t.n
        finals = [(p, v) for p, v in seen if v.state == FINAL]
        if finals:
            # Losers: every tentative entry of the key withdraws.
            for p, v in seen:
                if v.state == TENT:
                    t.cas(p, v, TOMB)
                    yield
            return finals[0]
        if not seen:
            return None
        win_p, win_v = seen[0]  # the lowest position in probe order
        # Kill the other tentative entries first, then finalize: a CAS on
        # each slot's state is the arbiter between resolvers.
        lost = False
        for p, v in seen[1:]:
            if not t.cas(p, v, TOMB):
                lost = True  # it became FINAL or went: look again
            else:
                STATS["kills"] += 1
            yield
        if lost:
            continue
        # Pass 2, after seeing the winner: its path must be intact, and a
        # pending slot on it is vetoed (the reclaimer's CAS then fails).
        p = t.home[key]
        broken = False
        again = False
        while p != win_p and "pass2" not in BUGS:
            v = t.s[p]
            yield
            if v is EMPTY:
                broken = True
                break
            if v is PENDING:
                vetoed = t.cas(p, PENDING, TOMB)
                STATS["vetoes"] += vetoed
                yield
                if not vetoed and "reread" not in BUGS:
                    continue  # it changed (maybe to EMPTY): read it again
            elif is_entry(v, key):
                again = True  # a new entry before the winner
                break
            p = (p + 1) % t.n
        if broken:
            if t.cas(win_p, win_v, TOMB):  # unreachable: withdraw it
                STATS["withdrawn"] += 1
            yield
            continue
        if again:
            continue
        fin = Entry(key, FINAL, win_v.owner, win_v.inc)
        if t.cas(win_p, win_v, fin):
            yield
            return win_p, fin
        yield


def register(e):
    """Registers on the incarnation of entry e if it is alive (one atomic
    step, as the graph's fetch_add on the trace's state word)."""
    yield
    if not FREEZE:
        return True
    if e.inc.alive:
        e.inc.registered += 1
        return True
    return False


def done(inc, result, slot):
    """Holds the registration a step, then lets go; records the result."""
    result[0] = slot
    yield
    inc.registered -= 1


def insert(t, key, me, result, incs):
    """Find-or-insert: result[0] gets the slot of key's FINAL entry."""
    while True:
        free = None
        found_tent = False
        frozen = False
        p = t.home[key]
        for _ in range(t.n):
            v = t.s[p]
            yield
            if v is EMPTY:
                if free is None:
                    free = (p, v)
                break
            if v is TOMB or v is PENDING:
                if free is None:
                    free = (p, v)
            elif is_entry(v, key):
                if v.state == FINAL:
                    if (yield from register(v)):
                        yield from done(v.inc, result, p)
                        return
                    frozen = True  # frozen under us: look again
                    break
                found_tent = True
                break
            p = (p + 1) % t.n
        if frozen:
            continue
        if found_tent:
            r = yield from resolve(t, key)
            if r is not None and (yield from register(r[1])):
                yield from done(r[1].inc, result, r[0])
                return
            continue
        if free is None:
            yield  # full of entries for now (tentative ones go away)
            continue
        p, old = free
        inc = Inc(key)  # its creator holds a registration from the start
        mine = Entry(key, TENT, me, inc)
        ok = t.cas(p, old, mine)
        STATS["claims"] += ok
        yield
        if not ok:
            continue
        incs.append(inc)
        r = yield from resolve(t, key)
        if (r is None or r[1].inc is not inc) and "withdraw" not in BUGS:
            # Lost, or cut off: withdraw the claim, unless a helper made
            # it FINAL meanwhile (then it won after all).
            if not t.cas(p, mine, TOMB):
                v = t.s[p]
                if is_entry(v) and v.inc is inc and v.state == FINAL:
                    r = (p, v)
            else:
                STATS["withdrawn"] += 1
            yield
        if r is not None and r[1].inc is inc:
            yield from done(inc, result, r[0])
            return
        inc.registered -= 1
        if r is not None and (yield from register(r[1])):
            yield from done(r[1].inc, result, r[0])
            return


def freezer(t, incs, rng, steps):
    """Freezes incarnations at random (traces completing) and deletes the
    FINAL entries of frozen ones no one is registered on."""
    while True:
        steps -= 1
        live = [i for i in incs if i.alive]
        drained = [i for i in incs if not i.alive and not i.deleted and i.registered == 0]
        if steps < 0 and not any(not i.alive and not i.deleted for i in incs):
            return  # froze its share, and every frozen one is deleted
        if drained and (steps < 0 or rng.random() < 0.5):
            inc = drained[rng.randrange(len(drained))]
            for p in range(t.n):
                v = t.s[p]
                if is_entry(v) and v.inc is inc:
                    if v.state != FINAL:
                        raise AssertionError("I5: a tentative entry of a drained "
                                             "incarnation at %d: %s" % (p, t.s))
                    t.s[p] = TOMB
                    LOG.append("delete %s at %d: %s" % (v, p, t.s))
                    STATS["deleted"] += 1
            inc.deleted = True
        elif steps >= 0 and live and rng.random() < 0.5:
            live[rng.randrange(len(live))].alive = False
            STATS["frozen"] = STATS.get("frozen", 0) + 1
        yield


def reclaimer(t, dead, rng, steps):
    """Deletes dead keys' FINAL entries, and tries to empty tombstones."""
    for _ in range(steps):
        if dead and rng.random() < 0.3:
            key = dead.pop(rng.randrange(len(dead)))
            for p in range(t.n):
                v = t.s[p]
                if is_entry(v, key) and v.state == FINAL:
                    t.s[p] = TOMB
                    LOG.append("delete %s at %d: %s" % (v, p, t.s))
                    STATS["deleted"] += 1
            yield
            continue
        p = rng.randrange(t.n)
        if not t.cas(p, TOMB, PENDING):
            yield
            continue
        yield
        # Scan on from p for an entry whose probe run crosses p.
        crossing = False
        q = (p + 1) % t.n
        for _ in range(t.n - 1):
            v = t.s[q]
            yield
            if v is EMPTY:
                break
            if is_entry(v):
                h = t.home[v.key]
                # crosses p when p lies in [h, q) cyclically
                if (p - h) % t.n < (q - h) % t.n:
                    crossing = True
                    break
            q = (q + 1) % t.n
        if crossing and "crossing" not in BUGS:
            STATS["reverted"] += t.cas(p, PENDING, TOMB)
        else:
            STATS["emptied"] += t.cas(p, PENDING, EMPTY)
        yield


def check(t, where):
    finals = {}
    for p, v in enumerate(t.s):
        if is_entry(v) and v.inc.deleted:
            raise AssertionError("I4 %s: entry %s of a deleted incarnation at %d: %s"
                                 % (where, v, p, t.s))
        if is_entry(v) and v.state == FINAL and v.inc.alive:
            if v.key in finals:
                raise AssertionError("I1 %s: two FINAL %s at %d and %d: %s"
                                     % (where, v.key, finals[v.key], p, t.s))
            finals[v.key] = p
            q = t.home[v.key]
            while q != p:
                if t.s[q] is EMPTY:
                    raise AssertionError("I2 %s: FINAL %s at %d unreachable "
                                         "(empty %d): %s" % (where, v.key, p, q, t.s))
                q = (q + 1) % t.n
    return finals


def trial(rng, n):
    nkeys = rng.randint(2, n - 2)
    homes = {k: rng.randrange(n) for k in range(nkeys)}
    TRIAL_HOMES.clear()
    TRIAL_HOMES.update(homes)
    t = Table(n, homes)
    # Prefill with tombstones of earlier keys, so claims reuse them.
    for p in range(n):
        if rng.random() < 0.5:
            t.s[p] = TOMB
    threads = []
    results = {}
    incs = []
    for k in range(nkeys):
        for j in range(rng.randint(1, 3)):
            r = [None]
            results.setdefault(k, []).append(r)
            threads.append((k, insert(t, k, (k, j), r, incs)))
    # Keys 0 and 1 are "old": inserted once, then dead before the others.
    dead = []
    live = list(range(len(threads)))
    gens = {i: g for i, (_, g) in enumerate(threads)}
    rec = reclaimer(t, dead, rng, 60)
    frz = freezer(t, incs, rng, 60) if FREEZE else None
    done_keys = set()
    steps = 0
    while live or rec is not None or frz is not None:
        steps += 1
        if steps > 100000:
            raise AssertionError("no progress: %s" % t.s)
        pick = rng.randrange(len(live) + 2)
        if pick == len(live) + 1:
            if frz is not None:
                try:
                    next(frz)
                except StopIteration:
                    frz = None
        elif pick == len(live):
            if rec is not None:
                try:
                    next(rec)
                except StopIteration:
                    rec = None
        else:
            i = live[pick]
            try:
                next(gens[i])
            except StopIteration:
                live.remove(i)
                k = threads[i][0]
                if FREEZE:
                    pass  # inserts may return different incarnations
                elif all(r[0] is not None for r in results[k]) and k not in done_keys:
                    done_keys.add(k)
                    # Every insert of k has returned: compare, then let the
                    # reclaimer delete k now and then.
                    slots = {r[0] for r in results[k]}
                    v = t.s[results[k][0][0]]
                    if len(slots) != 1 or not (is_entry(v, k) and v.state == FINAL):
                        raise AssertionError("I3: key %d returned %s: %s" % (k, slots, t.s))
                    if rng.random() < 0.5:
                        dead.append(k)
        check(t, "step %d" % steps)
    for p, v in enumerate(t.s):
        if is_entry(v) and v.state == TENT:
            raise AssertionError("I5: a tentative entry left at %d: %s" % (p, t.s))


def main():
    global FREEZE
    if "--freeze" in sys.argv:
        sys.argv.remove("--freeze")
        FREEZE = True
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    BUGS.update(b for b in sys.argv[3:4] if b != "-")
    only = int(sys.argv[4]) if len(sys.argv) > 4 else None
    for i in range(trials) if only is None else [only]:
        rng = random.Random(seed * 1000003 + i)
        LOG.clear()
        try:
            trial(rng, rng.choice([4, 5, 6, 8, 12]))
        except AssertionError as e:
            print("trial %d: %s; %s" % (i, e, STATS))
            print("homes: %s" % TRIAL_HOMES)
            print("\n".join(LOG[-40:]))
            return 1
    print("%d trials: no violation; %s" % (trials, STATS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
