//! Maglev consistent hashing (Eisenbud et al., NSDI 2016) and the stable hash it and source
//! hashing use.
//!
//! The hash must be the same on every director and across releases, so that several directors
//! send one client to the same server; it is therefore written out here rather than taken from
//! `std`, whose `DefaultHasher` may change.

use std::net::IpAddr;

use crate::limits;

/// FNV-1a over the bytes, finished with the splitmix64 mixer to spread low-entropy inputs.
pub(crate) fn stable_hash(bytes: &[u8], seed: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(hash)
}

fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

pub(crate) fn client_hash(client: IpAddr) -> u64 {
    match client {
        IpAddr::V4(v4) => stable_hash(&v4.octets(), 0),
        IpAddr::V6(v6) => stable_hash(&v6.octets(), 0),
    }
}

/// The smallest prime at or above `MAGLEV_TABLE_PER_SERVER` times the server count.
pub(crate) fn table_len(server_count: usize) -> usize {
    let mut candidate = (server_count.max(1) * limits::MAGLEV_TABLE_PER_SERVER).max(2);
    while !is_prime(candidate) {
        candidate += 1;
    }
    candidate
}

fn is_prime(value: usize) -> bool {
    if value < 2 {
        return false;
    }
    let mut divisor = 2;
    while divisor * divisor <= value {
        if value.is_multiple_of(divisor) {
            return false;
        }
        divisor += 1;
    }
    true
}

/// Builds the lookup table: entry `i` is an index into `servers` (name and weight of each
/// server that may take new connections). Each server fills entries in its own permutation
/// order; in each turn a server claims as many entries as its weight (divided by the weights'
/// greatest common divisor), so shares follow the weights and a change of one server moves few
/// other entries. `table_len` must be prime and is kept from the full server list so that it
/// does not change when only the healthy subset changes.
pub(crate) fn build_table(servers: &[(&str, u32)], table_len: usize) -> Vec<u32> {
    assert!(is_prime(table_len), "maglev table length must be prime");
    assert!(
        servers.iter().all(|(_, weight)| *weight > 0),
        "only weighted servers are in the table"
    );
    if servers.is_empty() {
        return Vec::new();
    }
    let divisor = servers
        .iter()
        .fold(0, |divisor, (_, weight)| gcd(divisor, *weight));
    let turns: Vec<u32> = servers.iter().map(|(_, weight)| weight / divisor).collect();
    let names: Vec<&str> = servers.iter().map(|(name, _)| *name).collect();
    let len = table_len as u64;
    let permutations: Vec<(u64, u64)> = names
        .iter()
        .map(|name| {
            let offset = stable_hash(name.as_bytes(), 1) % len;
            let skip = stable_hash(name.as_bytes(), 2) % (len - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0_u64; names.len()];
    let mut table = vec![u32::MAX; table_len];
    let mut filled = 0;
    while filled < table_len {
        for (server, (offset, skip)) in permutations.iter().enumerate() {
            for _ in 0..turns[server] {
                let mut slot = ((offset + next[server] * skip) % len) as usize;
                while table[slot] != u32::MAX {
                    next[server] += 1;
                    slot = ((offset + next[server] * skip) % len) as usize;
                }
                table[slot] = u32::try_from(server).expect("server count fits u32 by limits");
                next[server] += 1;
                filled += 1;
                if filled == table_len {
                    return table;
                }
            }
        }
    }
    table
}

fn gcd(first: u32, second: u32) -> u32 {
    if second == 0 {
        first
    } else {
        gcd(second, first % second)
    }
}
