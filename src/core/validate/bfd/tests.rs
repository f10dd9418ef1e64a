use crate::core::validate::testing::*;

#[test]
fn bfd_profiles() {
    run(&[
        Row {
            name: "echo mode on a peer sent IPv6 pools: MetalLB refuses it, ferrule warns",
            mutate: |s| bfd_spec(s).echo_mode = Some(true),
            errors: &[],
            warnings: &[("BGPPeer", "peer-a", "spec.bfdProfile", "the BFD profile has echoMode and BGPAdvertisement adv-b sends this peer IPv6 pool pool-b")],
        },
        Row {
            name: "echo mode with IPv4 pools only",
            mutate: |s| {
                bfd_spec(s).echo_mode = Some(true);
                pool_spec(s, "pool-b").addresses.truncate(1);
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "bounds are inclusive",
            mutate: |s| {
                let b = bfd_spec(s);
                b.receive_interval = Some(10);
                b.transmit_interval = Some(60000);
                b.detect_multiplier = Some(255);
                b.echo_interval = Some(10);
                b.minimum_ttl = Some(254);
            },
            errors: &[],
            warnings: &[],
        },
        Row {
            name: "receiveInterval",
            mutate: |s| bfd_spec(s).receive_interval = Some(9),
            errors: &[(
                "BFDProfile",
                "fast",
                "spec.receiveInterval",
                "9 is out of range 10-60000",
            )],
            warnings: &[BFD_DEPENDENT],
        },
        Row {
            name: "transmitInterval",
            mutate: |s| bfd_spec(s).transmit_interval = Some(60001),
            errors: &[(
                "BFDProfile",
                "fast",
                "spec.transmitInterval",
                "out of range 10-60000",
            )],
            warnings: &[BFD_DEPENDENT],
        },
        Row {
            name: "echoInterval",
            mutate: |s| bfd_spec(s).echo_interval = Some(0),
            errors: &[(
                "BFDProfile",
                "fast",
                "spec.echoInterval",
                "out of range 10-60000",
            )],
            warnings: &[BFD_DEPENDENT],
        },
        Row {
            name: "detectMultiplier",
            mutate: |s| bfd_spec(s).detect_multiplier = Some(1),
            errors: &[(
                "BFDProfile",
                "fast",
                "spec.detectMultiplier",
                "out of range 2-255",
            )],
            warnings: &[BFD_DEPENDENT],
        },
        Row {
            name: "minimumTtl",
            mutate: |s| bfd_spec(s).minimum_ttl = Some(255),
            errors: &[(
                "BFDProfile",
                "fast",
                "spec.minimumTtl",
                "out of range 1-254",
            )],
            warnings: &[BFD_DEPENDENT],
        },
    ]);
}
