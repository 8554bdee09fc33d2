//! The deployer's conventions, which need nothing else of it: the partitions and their regions,
//! how a stack and stage name the function and role, the deployer's own tags, the runtime. Both the stack's
//! validation and [`crate::names`] use them; this module imports nothing of ours, so the two
//! never import each other.

/// Tags under this prefix belong to the deployer.
pub const TAG_PREFIX: &str = "deployer:";
/// Names the stack a resource belongs to.
pub const STACK_TAG: &str = "deployer:stack";
/// Names the stage; with [`STACK_TAG`] it tells two stages of one stack apart.
pub const STAGE_TAG: &str = "deployer:stage";

/// The runtime and handler of a Rust function on Lambda's OS-only runtime.
pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";
/// The alias API Gateway invokes: it names the version that takes traffic, and moves only to a
/// version that passed the probe.
pub const LIVE_ALIAS: &str = "live";

/// An AWS partition: ARNs and DNS names differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

/// The partitions whose regions are refused, by region prefix: their ARNs, endpoints and DNS
/// suffixes differ from the commercial ones, and a wrong ARN in a policy fails silently.
const UNSUPPORTED: [(&str, &str, &str); 5] = [
    ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
    ("us-isof-", "aws-iso-f", "csp.hci.ic.gov"),
    ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk"),
    ("us-iso-", "aws-iso", "c2s.ic.gov"),
    ("eusc-", "aws-eusc", "amazonaws.eu"),
];

impl Partition {
    /// The partition of `region`, or why it is refused: not a region code at all, or a region
    /// of a partition the deployer does not support (ISO and European Sovereign Cloud).
    pub fn check(region: &str) -> Result<Partition, String> {
        if let Some((_, partition, suffix)) =
            UNSUPPORTED.iter().find(|(p, _, _)| region.starts_with(p))
        {
            return Err(format!(
                "{region:?} is a region of the {partition} partition (DNS suffix {suffix}), which \
                 this deployer does not support: its ARNs and endpoints differ from the aws, \
                 aws-cn and aws-us-gov partitions, and it would derive wrong ones"
            ));
        }
        Partition::of_region(region).ok_or_else(|| format!("{region:?} is not an AWS region"))
    }

    /// The partition a region belongs to, or `None` when `region` is not a region code of a
    /// supported partition.
    pub fn of_region(region: &str) -> Option<Partition> {
        if UNSUPPORTED.iter().any(|(p, _, _)| region.starts_with(p)) {
            return None;
        }
        let parts: Vec<&str> = region.split('-').collect();
        let well_formed = (3..=4).contains(&parts.len())
            && parts[0].len() == 2
            && parts[0].chars().all(|c| c.is_ascii_lowercase())
            && parts[1..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts.last().is_some_and(|n| {
                !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit())
            });
        if !well_formed {
            return None;
        }
        Some(match (parts[0], parts[1]) {
            ("cn", _) => Partition::AwsCn,
            ("us", "gov") => Partition::AwsUsGov,
            _ => Partition::Aws,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        }
    }
}

pub fn function_name(stack: &str, stage: &str) -> String {
    format!("{stack}-{stage}")
}

pub fn role_name(stack: &str, stage: &str) -> String {
    format!("{stack}-{stage}-role")
}

pub fn default_table_name(stack: &str, stage: &str) -> String {
    format!("{stack}-{stage}")
}

/// Item keys under this prefix are the deployer's: a counter id may not start with it.
pub const ITEM_PREFIX: &str = "deployer:";

/// The key of the stack's deploy lease item, in the stack's own table. Stack and stage are in
/// it, so two stacks that share a table never share a lease.
pub fn lease_key(stack: &str, stage: &str) -> String {
    format!("{ITEM_PREFIX}lease:{stack}:{stage}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(Partition::of_region("us-east-1"), Some(Partition::Aws));
        assert_eq!(Partition::of_region("eu-central-2"), Some(Partition::Aws));
        assert_eq!(Partition::of_region("ap-southeast-5"), Some(Partition::Aws));
        assert_eq!(
            Partition::of_region("cn-northwest-1"),
            Some(Partition::AwsCn)
        );
        assert_eq!(
            Partition::of_region("us-gov-west-1"),
            Some(Partition::AwsUsGov)
        );
        for unsupported in [
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ] {
            assert_eq!(Partition::of_region(unsupported), None, "{unsupported}");
            let why = Partition::check(unsupported).unwrap_err();
            assert!(why.contains("partition"), "{why}");
        }
        assert_eq!(Partition::check("eu-west-1"), Ok(Partition::Aws));
        for bad in [
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-1a",
            "",
            "u-east-1",
            "us--1",
        ] {
            assert_eq!(Partition::of_region(bad), None, "{bad}");
        }
    }
}
