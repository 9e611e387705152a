//! Unit tests of the store cache: generations, trust, expiry, byte budgets and where
//! emptied tables are freed. (Compiled only for tests: the module is `#[cfg(test)]`.)

#[cfg(test)]
use super::*;

#[test]
fn a_change_during_a_lookup_keeps_the_answer_out() {
    let c = Cache::new(true);
    let g = c.generation();
    c.invalidate(); // a revocation arrives while the look-up runs
    c.put_key(g, "*", [1; 32], KeyEntry::Unknown);
    assert!(c.get_key("*", &[1; 32]).is_miss());
    let g = c.generation();
    c.put_key(g, "*", [1; 32], KeyEntry::Unknown);
    assert!(matches!(c.get_key("*", &[1; 32]), Cached::Unknown));
    assert!(c.get_key("other", &[1; 32]).is_miss());
}

#[test]
fn untrusted_cache_is_neither_read_nor_filled() {
    let c = Cache::new(true);
    c.put_key(c.generation(), "*", [1; 32], KeyEntry::Unknown);
    c.set_trusted(false);
    assert!(c.get_key("*", &[1; 32]).is_miss());
    c.put_key(c.generation(), "*", [1; 32], KeyEntry::Unknown);
    c.set_trusted(true);
    assert!(c.get_key("*", &[1; 32]).is_miss());
}

#[test]
fn expired_keys_are_not_answered() {
    let c = Cache::new(true);
    let entry = KeyEntry::Known {
        metadata: None,
        expires: Some(now_secs() - 1),
    };
    c.put_key(c.generation(), "*", [2; 32], entry);
    assert!(c.get_key("*", &[2; 32]).is_miss());
}

/// Issue 18 finding 2: trust is a deadline the feed pushes forward; it lapses by itself
/// when the proofs stop, and coming back empties the cache.
#[test]
fn trust_lapses_without_proof_and_returns_empty() {
    let c = Cache::new(false);
    assert!(!c.is_trusted());
    c.prove_live(Instant::now(), Duration::from_millis(300));
    assert!(c.is_trusted());
    c.put_key(c.generation(), "*", [3; 32], KeyEntry::Unknown);
    assert!(!c.get_key("*", &[3; 32]).is_miss());
    let lapsed = (0..400).any(|_| {
        std::thread::sleep(Duration::from_millis(5));
        !c.is_trusted()
    });
    assert!(lapsed, "no proof: the cache stops being trusted by itself");
    assert!(c.get_key("*", &[3; 32]).is_miss());
    c.prove_live(Instant::now(), Duration::from_secs(60));
    assert!(c.is_trusted());
    assert!(
        c.get_key("*", &[3; 32]).is_miss(),
        "back from untrusted: emptied"
    );
}

/// Issue 19: the negative cache holds at most its byte budget, counted from the table's
/// real capacity (slots) and the heap blocks its entries own; a sweep of random keys
/// empties it and starts again instead of growing.
#[test]
fn the_negative_cache_stays_within_its_byte_budget() {
    let c = Cache::new(true);
    let mut peak = 0usize;
    let mut entries_at_peak = 0usize;
    for i in 0u32..1_200_000 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_le_bytes());
        c.put_key(c.generation(), "*", key, KeyEntry::Unknown);
        if i % 1024 == 0 {
            let (_, unknown, _) = c.bytes();
            if unknown > peak {
                peak = unknown;
                entries_at_peak = c.unknown.read().table.len();
            }
            assert!(unknown <= UNKNOWN_BUDGET, "{unknown} bytes");
        }
    }
    eprintln!(
        "negative cache: peak {peak} bytes ({:.1} MiB) with {entries_at_peak} entries, \
         budget {UNKNOWN_BUDGET}",
        peak as f64 / (1 << 20) as f64
    );
    assert!(
        entries_at_peak > 100_000,
        "the budget holds a useful number"
    );
}

/// Issue 19: emptying swaps empty tables in under the lock; the old ones are freed
/// elsewhere, so a reader waits only for the swap, not for a million frees.
#[test]
fn invalidate_swaps_and_frees_elsewhere() {
    let c = Cache::new(true);
    for i in 0u32..200_000 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_le_bytes());
        let meta: Arc<[u8]> = Arc::from(vec![1u8; 40]);
        let entry = KeyEntry::Known {
            metadata: Some(meta),
            expires: None,
        };
        c.put_key(c.generation(), "*", key, entry);
    }
    let (known, _, _) = c.bytes();
    assert!(known > 1 << 20);
    let t = Instant::now();
    c.invalidate();
    eprintln!(
        "invalidate with 200,000 entries returned after {:?}",
        t.elapsed()
    );
    assert_eq!(c.bytes(), (0, 0, 0), "empty tables are in place at once");
    assert!(c.get_key("*", &[0; 32]).is_miss());
}

#[test]
fn users_are_cached_per_domain() {
    let c = Cache::new(true);
    c.put_user(c.generation(), "a", "alice", Some(Arc::from("$argon2id$x")));
    c.put_user(c.generation(), "a", "bob", None);
    assert!(matches!(c.get_user("a", "alice"), Some(Some(_))));
    assert!(matches!(c.get_user("a", "bob"), Some(None)));
    assert!(c.get_user("b", "alice").is_none());
}

/// Look-ups probe with borrowed (domain, key) and (domain, user) pairs: they must find
/// exactly what the owned pairs hold, whatever the lengths (the borrowed form hashes and
/// compares field by field, as the tuple does), and tell shifted splits apart.
#[test]
fn borrowed_probes_find_exactly_the_owned_entries() {
    let c = Cache::new(true);
    let domains = ["", "*", "a", "domain-0123456789", &"d".repeat(300)];
    for (i, d) in domains.iter().enumerate() {
        let key = [u8::try_from(i).unwrap_or(0); 32];
        let entry = KeyEntry::Known {
            metadata: None,
            expires: None,
        };
        c.put_key(c.generation(), d, key, entry);
        c.put_key(c.generation(), d, [0xee; 32], KeyEntry::Unknown);
        c.put_user(c.generation(), d, "alice", None);
    }
    for (i, d) in domains.iter().enumerate() {
        let key = [u8::try_from(i).unwrap_or(0); 32];
        assert!(matches!(c.get_key(d, &key), Cached::Known(_)), "{d}");
        assert!(matches!(c.get_key(d, &[0xee; 32]), Cached::Unknown), "{d}");
        assert!(c.get_key(d, &[0xdd; 32]).is_miss(), "{d}");
        assert!(matches!(c.get_user(d, "alice"), Some(None)), "{d}");
        assert!(c.get_user(d, "alic").is_none(), "{d}");
    }
    // The same bytes split differently are another pair.
    c.put_user(c.generation(), "ab", "c", None);
    assert!(c.get_user("a", "bc").is_none());
    assert!(matches!(c.get_user("ab", "c"), Some(None)));
}

/// Known keys are kept by key, with the domains each admits in: a key known in several
/// domains answers in each with that domain's own answer, and in no other.
#[test]
fn a_key_known_in_several_domains_answers_each_alone() {
    let c = Cache::new(true);
    let key = [0x42; 32];
    let known = |tag: u8| KeyEntry::Known {
        metadata: Some(Arc::from(vec![tag; 3])),
        expires: None,
    };
    let meta = |e: Cached| match e {
        Cached::Known(metadata) => metadata.map(|m| m[0]),
        _ => None,
    };
    for (i, d) in ["a", "b", "c", "dd", "e", "*"].iter().enumerate() {
        c.put_key(c.generation(), d, key, known(u8::try_from(i).unwrap_or(0)));
    }
    for (i, d) in ["a", "b", "c", "dd", "e", "*"].iter().enumerate() {
        assert_eq!(meta(c.get_key(d, &key)), u8::try_from(i).ok(), "{d}");
    }
    assert!(c.get_key("d", &key).is_miss());
    assert!(c.get_key("", &key).is_miss());
    assert!(c.get_key("a", &[0x43; 32]).is_miss());
    // A new answer for one domain replaces only its own.
    c.put_key(c.generation(), "b", key, known(9));
    assert_eq!(meta(c.get_key("b", &key)), Some(9));
    assert_eq!(meta(c.get_key("a", &key)), Some(0));
    assert_eq!(c.lens().0, 1, "one key");
    // One domain alone, replaced in place.
    let other = [0x44; 32];
    c.put_key(c.generation(), "x", other, known(1));
    c.put_key(c.generation(), "x", other, known(2));
    assert_eq!(meta(c.get_key("x", &other)), Some(2));
    c.invalidate();
    assert!(c.get_key("a", &key).is_miss());
    assert!(c.get_key("x", &other).is_miss());
}

/// The domain of known keys is held once, whatever the number of keys naming it (its
/// bytes are what every cached look-up compares), and counted once in the budget; past
/// SHARED_DOMAINS domains, each entry holds and is charged its own copy.
#[test]
fn known_keys_share_their_domain() {
    let c = Cache::new(true);
    let known = || KeyEntry::Known {
        metadata: None,
        expires: None,
    };
    for i in 0u32..10_000 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_le_bytes());
        c.put_key(c.generation(), "global", key, known());
    }
    let heap = |c: &Cache| {
        let t = c.known.read();
        t.heap
    };
    assert_eq!(heap(&c), alloc_cost("global".len() + 16));
    assert_eq!(c.known.read().table.domains.len(), 1);
    // Many domains: all answer, the first SHARED_DOMAINS are shared, later ones copied.
    let c = Cache::new(true);
    let n = SHARED_DOMAINS + 10;
    for d in 0..n {
        for k in 0u8..3 {
            c.put_key(c.generation(), &format!("d{d:03}"), [k; 32], known());
        }
    }
    for d in 0..n {
        for k in 0u8..3 {
            assert!(
                matches!(c.get_key(&format!("d{d:03}"), &[k; 32]), Cached::Known(_)),
                "d{d:03} {k}"
            );
        }
    }
    assert!(c.get_key("d999", &[0; 32]).is_miss());
    let t = c.known.read();
    assert_eq!(t.table.domains.len(), SHARED_DOMAINS);
    let lists = alloc_cost(std::mem::size_of::<(Arc<str>, Known)>() * 4) * 3;
    let copies = alloc_cost(4 + 16) * (SHARED_DOMAINS + 10 * 3);
    assert!(t.heap >= copies + lists, "{} < {}", t.heap, copies + lists);
}
