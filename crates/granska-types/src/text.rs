//! The one way a vocabulary enum becomes text and back: strum derives the table from the
//! variants' `#[strum(serialize = …)]` names, and [`text_names!`] adds the `as_str` / `parse`
//! / `ALL` helpers every layer calls (storage, edges, CLI), so no crate writes its own table.

/// Adds `ALL`, `as_str` and `parse` to an enum deriving strum's `IntoStaticStr`, `EnumString`
/// and `VariantArray`.
#[macro_export]
macro_rules! text_names {
    ($($name:ty),+ $(,)?) => {$(
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = <$name as ::strum::VariantArray>::VARIANTS;

            /// The stored and displayed name.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Parses [`Self::as_str`]'s output.
            pub fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )+};
}
