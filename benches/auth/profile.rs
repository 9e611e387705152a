//! `--profile NAME`: one measurement alone, small enough to run under callgrind.

use std::sync::Arc;
use std::time::Instant;

use crate::table::ms;
use crate::throughput::{cycle_to, measure, Config, Data};
use crate::zap::{BoxError, Workload};
use crate::{certs, load, usage, Params, DOMAIN};

/// One measurement alone, small enough to run under callgrind.
pub fn profile(name: &str, p: &Params) -> Result<(), BoxError> {
    let dir = certs::make(None, p.certs, 0)?;
    let users: Vec<(String, String)> = (0..p.users)
        .map(|i| (format!("user{i:04}"), format!("password-{i:04}")))
        .collect();
    // The scale row's pair: `--certs` keys asked in turn, against 10 keys asked in
    // turn from a stream as long (so the client side touches as much memory).
    let small = certs::make(None, 10, 0)?;
    let data = Data {
        w_null: Workload::null(DOMAIN),
        w_plain: Workload::plain(DOMAIN, &users),
        w_curve: Workload::curve(DOMAIN, &dir.public),
        w_small: Workload::curve(DOMAIN, &cycle_to(&small.public, dir.public.len())),
        w_big: Workload::curve(DOMAIN, &dir.public),
        z85: Arc::new(dir.public.iter().map(zmq_auth::encode_z85_key).collect()),
        users,
        small,
        big: dir.alias(),
        dir,
    };
    // `metrics-NAME`: NAME with a Prometheus recorder installed (every decision counted).
    let name = match name.strip_prefix("metrics-") {
        #[cfg(feature = "metrics")]
        Some(rest) => {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| format!("install the Prometheus recorder: {e}"))?;
            rest
        }
        _ => name,
    };
    let cfg = match name {
        "bare-null" => Some(Config::BareNull),
        "null" => Some(Config::Null),
        "bare-plain" => Some(Config::BarePlain),
        "plain" => Some(Config::Plain),
        "bare-curve" => Some(Config::BareCurve),
        "bare-curve-uid" => Some(Config::BareCurveUid),
        "bare-raw-null" => Some(Config::RawNull),
        "bare-raw-curve-uid" => Some(Config::RawCurveUid),
        "curve-dir" => Some(Config::CurveDir),
        "curve-callback" => Some(Config::CurveCallback),
        "bare-curve-cb" => Some(Config::BareCurveCb),
        "null-busy" => Some(Config::NullBusy),
        "plain-busy" => Some(Config::PlainBusy),
        "lock-null" => Some(Config::LockNull),
        "lock-plain" => Some(Config::LockPlain),
        "lock-curve" => Some(Config::LockCurve),
        "scale-small" => Some(Config::CurveSmall),
        "scale-big" => Some(Config::CurveBig),
        _ => None,
    };
    let t = Instant::now();
    match (cfg, name) {
        (Some(cfg), _) => {
            let m = measure(cfg, &data, p)?;
            print!("{name}: {:.0} requests/s", m.rate);
            match m.side_rate {
                Some(side) => println!(" (slow CURVE answers meanwhile: {side:.0}/s)"),
                None => println!(),
            }
        }
        (None, "scale") => {
            // The scale row alone: its two streams in turn, the ratio of each round.
            let mut ratios = Vec::new();
            for _ in 0..p.rounds {
                let small = measure(Config::CurveSmall, &data, p)?.rate;
                let big = measure(Config::CurveBig, &data, p)?.rate;
                println!("small {small:.0}/s, big {big:.0}/s: {:.3}", big / small);
                ratios.push(big / small);
            }
            ratios.sort_by(f64::total_cmp);
            println!("scale: median {:.3}", ratios[ratios.len() / 2]);
        }
        (None, "pool") => {
            let r = crate::slow::pool_throughput(
                4,
                std::time::Duration::from_millis(10),
                &data.dir.public,
                p.pool_requests,
            )?;
            println!("pool, 4 threads, 10 ms callback: {r:.0} requests/s (ideal 400)");
        }
        (None, "burst") => {
            let b = crate::scale::burst(crate::scale::BURST)?;
            println!(
                "burst of {} to an instant callback: {} admitted, {} refused 300, all answered in {}",
                crate::scale::BURST,
                b.admitted,
                b.busy,
                ms(b.all_answered)
            );
        }
        #[cfg(feature = "sqlite")]
        (None, "curve-store" | "lock-curve-store") => {
            let r = crate::store_scale::curve_store(p, name == "lock-curve-store")?;
            println!(
                "{name} (SQLite, {} keys, cached): {r:.0} requests/s",
                p.certs
            );
        }
        #[cfg(feature = "sqlite")]
        (None, "store-burst") => {
            let n = crate::store_scale::burst_store_keys(p);
            let b = crate::store_scale::store_burst(n, 0x0b00_5700)?;
            println!(
                "burst of {} to an uncached SQLite store of {n} keys: {} got 200, {} got 300, all answered in {}",
                crate::scale::BURST,
                b.admitted,
                b.busy,
                ms(b.all_answered)
            );
        }
        (None, "cache") => {
            let mut rows = Vec::new();
            crate::store_scale::rows_cache(3, &mut rows, &mut Vec::new());
            for r in rows {
                println!("{}: {} (floor {})", r.name, r.ours, r.floor);
            }
        }
        (None, "unknown-user") => {
            let (unknown, known) = crate::scale::unknown_user(crate::scale::USERS, 2_000)?;
            println!(
                "{} plaintext users, round trip: unknown user {}, known user {}",
                crate::scale::USERS,
                crate::table::us(unknown),
                crate::table::us(known)
            );
        }
        (None, "recheck-rtt") => {
            let mut r = crate::slow::rtt_during_recheck(
                &data.dir.dir,
                &data.dir.public[0],
                std::time::Duration::from_millis(100),
                p.recheck_window,
                p.recheck_rounds,
            )?;
            let q = crate::slow::quantile;
            println!(
                "NULL round trips while {} keys are re-checked every 100 ms: ours p99 {} worst {} \
                 ({} round trips); bare p99 {} worst {}; revoked after {}",
                p.certs,
                ms(q(&mut r.ours, 0.99)),
                ms(q(&mut r.ours, 1.0)),
                r.ours.len(),
                ms(q(&mut r.bare, 0.99)),
                ms(q(&mut r.bare, 1.0)),
                ms(r.revoked_after)
            );
        }
        (None, "load") => {
            let n = zmq_auth::load_certificates(&data.dir.dir)?.len();
            println!("load_certificates: {n} keys in {}", ms(t.elapsed()));
        }
        (None, "configure-curve") => {
            let mut a = zmq_auth::Authenticator::new();
            a.configure_curve(DOMAIN, &data.dir.dir)?;
            println!("configure_curve: {}", ms(t.elapsed()));
        }
        (None, "raw-read") => {
            certs::raw_read(&data.dir.dir)?;
            println!("raw read: {}", ms(t.elapsed()));
        }
        (None, "reload") => {
            let r = load::reload_times(&data.dir.dir, &data.dir.public[0], 1)?;
            println!(
                "full load {}; re-check after add {}, after remove {}, unchanged {}",
                ms(r.full),
                ms(r.added),
                ms(r.removed),
                ms(r.unchanged)
            );
            let e = load::event_refresh(&data.dir.dir, p.reload_reps)?;
            println!(
                "file event re-read after add {}, after remove {}; full pass {}",
                crate::table::us(e.added),
                crate::table::us(e.removed),
                ms(e.full_pass)
            );
        }
        _ => usage(),
    }
    Ok(())
}
