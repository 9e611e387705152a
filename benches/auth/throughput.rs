//! ZAP throughput: each configuration in its own context, against its floor.

use std::collections::HashSet;
use std::sync::Arc;

use zmq_auth::ThreadAuthenticator;

use crate::certs::CertDir;
use crate::zap::{self, BoxError, Workload};
use crate::{Params, DOMAIN};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Config {
    BareNull,
    Null,
    BarePlain,
    Plain,
    BareCurve,
    CurveDir,
    CurveCallback,
    CurveSmall,
    CurveBig,
}

pub const CONFIGS: [Config; 9] = [
    Config::BareNull,
    Config::Null,
    Config::BarePlain,
    Config::Plain,
    Config::BareCurve,
    Config::CurveDir,
    Config::CurveCallback,
    Config::CurveSmall,
    Config::CurveBig,
];

pub struct Data {
    pub dir: CertDir,
    pub small: CertDir,
    pub big: CertDir,
    pub users: Vec<(String, String)>,
    pub z85: Arc<HashSet<String>>,
    pub w_null: Workload,
    pub w_plain: Workload,
    pub w_curve: Workload,
    pub w_small: Workload,
    pub w_big: Workload,
}

pub fn measure(cfg: Config, d: &Data, p: &Params) -> Result<f64, BoxError> {
    let ctx = zmq::Context::new();
    let run = |w: &Workload| zap::throughput(&ctx, w, p.warmup, p.requests, p.inflight);
    let bare = |w: &Workload| -> Result<f64, BoxError> {
        let _b = zap::start_bare(&ctx)?;
        run(w)
    };
    let ours = |setup: &dyn Fn(&ThreadAuthenticator) -> zmq_auth::Result<()>,
                w: &Workload|
     -> Result<f64, BoxError> {
        let auth = ThreadAuthenticator::start(&ctx)?;
        setup(&auth)?;
        run(w)
    };
    match cfg {
        Config::BareNull => bare(&d.w_null),
        Config::BarePlain => bare(&d.w_plain),
        Config::BareCurve => bare(&d.w_curve),
        Config::Null => ours(&|_| Ok(()), &d.w_null),
        Config::Plain => ours(&|a| a.configure_plain(DOMAIN, d.users.clone()), &d.w_plain),
        Config::CurveDir => ours(&|a| a.configure_curve(DOMAIN, &d.dir.dir), &d.w_curve),
        Config::CurveCallback => {
            let set = Arc::clone(&d.z85);
            ours(
                &move |a| {
                    let set = Arc::clone(&set);
                    a.configure_curve_callback(DOMAIN, move |_: &str, key: &str| set.contains(key))
                },
                &d.w_curve,
            )
        }
        Config::CurveSmall => ours(&|a| a.configure_curve(DOMAIN, &d.small.dir), &d.w_small),
        Config::CurveBig => ours(&|a| a.configure_curve(DOMAIN, &d.big.dir), &d.w_big),
    }
}

/// `keys` repeated (or cut) to `len` entries, so that the generator walks a
/// credential table of the same size whatever the number of distinct keys.
pub fn cycle_to(keys: &[[u8; 32]], len: usize) -> Vec<[u8; 32]> {
    keys.iter().copied().cycle().take(len).collect()
}
