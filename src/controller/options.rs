//! The controller's command line.

use std::time::Duration;

use super::error::ControllerError;
use crate::core::duration::parse_flag;

/// Options of `ferrule controller`.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "controller")]
pub struct ControllerOptions {
    /// Namespace of the IPAddressPools and of the leader-election Lease.
    #[arg(long, env = "FERRULE_NAMESPACE", default_value = "metallb-system")]
    pub namespace: String,
    /// Serve only Services with this spec.loadBalancerClass (unset: only Services without
    /// one, as MetalLB does).
    #[arg(long, env = "FERRULE_LB_CLASS")]
    pub lb_class: Option<String>,
    /// Holder identity in the Lease: the pod name (falls back to $HOSTNAME).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "ferrule-controller")]
    pub lease_name: String,
    /// How long others wait after the last renewal they saw before taking over.
    #[arg(long, default_value = "15s", value_parser = parse_flag)]
    pub lease_duration: Duration,
    /// The leader steps down if it could not renew for this long (< lease duration).
    #[arg(long, default_value = "10s", value_parser = parse_flag)]
    pub renew_deadline: Duration,
    /// How often the leader renews (and others retry).
    #[arg(long, default_value = "5s", value_parser = parse_flag)]
    pub renew_interval: Duration,
    /// Changes arriving within this window are handled by one recompute.
    #[arg(long, default_value = "30ms", value_parser = parse_flag)]
    pub debounce: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        <Self as clap::Parser>::parse_from(["controller"])
    }
}

impl ControllerOptions {
    pub(crate) fn check(&self) -> Result<(), ControllerError> {
        if !(self.renew_interval < self.renew_deadline && self.renew_deadline < self.lease_duration)
        {
            return Err(ControllerError::Options(format!(
                "need --renew-interval ({:?}) < --renew-deadline ({:?}) < --lease-duration ({:?})",
                self.renew_interval, self.renew_deadline, self.lease_duration
            )));
        }
        Ok(())
    }

    pub(crate) fn instance(&self) -> &str {
        self.identity
            .as_deref()
            .unwrap_or(crate::kube::events::REPORTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("250ms", Some(Duration::from_millis(250))),
            ("15s", Some(Duration::from_secs(15))),
            ("15", Some(Duration::from_secs(15))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h", Some(Duration::from_secs(3600))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("2x", None),
            ("s", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_flag(input).ok(), want, "{input:?}");
        }
    }

    #[test]
    fn defaults_and_timing_rule() {
        let o = ControllerOptions::default();
        assert_eq!(o.namespace, "metallb-system");
        assert_eq!(o.lease_duration, Duration::from_secs(15));
        assert_eq!(o.renew_interval, Duration::from_secs(5));
        assert!(o.check().is_ok());
        let bad = ControllerOptions {
            renew_deadline: Duration::from_secs(20),
            ..o
        };
        assert!(bad.check().is_err());
    }
}
