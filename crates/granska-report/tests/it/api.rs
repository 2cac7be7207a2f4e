//! `build` and `describe` through the public API: values round-trip, names survive their
//! character set, bad input is refused with a typed error.

use crate::fixture;

#[test]
fn dump_for_inspection() {
    let images = fixture::images();
    for (name, rec) in [("scored", fixture::scored()), ("extra", fixture::extra_high()), ("unscorable", fixture::unscorable()), ("incomplete", fixture::incomplete())] {
        let r = fixture::build(&images, &rec);
        std::fs::write(format!("/tmp/sr-{name}.dcm"), &r.bytes).unwrap();
    }
}
