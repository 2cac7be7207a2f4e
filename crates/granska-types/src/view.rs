//! Which breast and which view an image shows, and the four views of a standard screening
//! exam (DESIGN.md §4). The DICOM codes (`L`/`R`, ViewPosition `CC`, `MLO`, …) are the names.

use serde::{Deserialize, Serialize};

/// Which breast an image shows (ImageLaterality).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum Laterality {
    /// Left breast.
    #[serde(rename = "L")]
    #[strum(serialize = "L")]
    Left,
    /// Right breast.
    #[serde(rename = "R")]
    #[strum(serialize = "R")]
    Right,
}

/// Mammographic view (ViewPosition defined terms).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE")]
pub enum View {
    /// Cranio-caudal.
    Cc,
    /// Medio-lateral oblique.
    Mlo,
    /// Medio-lateral.
    Ml,
    /// Latero-medial.
    Lm,
    /// Latero-medial oblique.
    Lmo,
    /// Caudo-cranial (from below).
    Fb,
    /// Superolateral to inferomedial oblique.
    Sio,
    /// Cranio-caudal exaggerated laterally.
    Xccl,
    /// Cranio-caudal exaggerated medially.
    Xccm,
    /// Cleavage.
    Cv,
    /// Axillary tail.
    At,
}

crate::text_names!(Laterality, View);

impl Laterality {
    /// The DICOM code string, `L` or `R`.
    pub fn code(self) -> &'static str {
        self.as_str()
    }
}

impl View {
    /// The ViewPosition code string, e.g. `MLO`.
    pub fn code(self) -> &'static str {
        self.as_str()
    }

    /// Parses a ViewPosition code string (case and padding tolerated).
    pub fn from_code(text: &str) -> Option<View> {
        View::parse(&text.trim().to_ascii_uppercase())
    }
}

/// The four views of a standard screening exam: L-CC, L-MLO, R-CC, R-MLO. An exam missing one
/// is incomplete; the archive completes a study when all four arrived.
pub const STANDARD_VIEWS: [(Laterality, View); 4] = [
    (Laterality::Left, View::Cc),
    (Laterality::Left, View::Mlo),
    (Laterality::Right, View::Cc),
    (Laterality::Right, View::Mlo),
];
