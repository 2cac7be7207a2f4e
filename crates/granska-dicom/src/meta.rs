//! Mammography metadata: extraction into typed fields and the two validation profiles.

use std::borrow::Cow;

use dicom_core::Tag;
use dicom_core::header::HasLength;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use granska_types::Uid;
use serde::Serialize;

use crate::error::{Attr, ErrorKind};

/// Digital Mammography X-Ray Image Storage – For Presentation.
pub const MG_FOR_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.2";
/// Digital Mammography X-Ray Image Storage – For Processing.
pub const MG_FOR_PROCESSING: &str = "1.2.840.10008.5.1.4.1.1.1.2.1";
/// SOP classes the lenient profile also accepts (with Modality MG): digitised film and
/// research exports (Secondary Capture family, CR, DX).
const LENIENT_EXTRA_SOP_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.2",   // Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",   // Multi-frame Grayscale Word Secondary Capture
    "1.2.840.10008.5.1.4.1.1.1",     // Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",   // Digital X-Ray – For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1", // Digital X-Ray – For Processing
];

/// How strictly an instance is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The service default: Digital Mammography SOP classes only, Modality MG,
    /// ImageLaterality and a view required.
    #[default]
    Strict,
    /// For research data: also Secondary Capture / digitised film with Modality MG; laterality
    /// and view may be inferred from older attributes, and what was inferred is reported.
    Lenient,
}

pub use granska_types::{Laterality, View};

/// (code, view, SNOMED-RT code, SNOMED CT code, code meaning) for each view: how a
/// ViewCodeSequence entry names a view when ViewPosition is absent.
const VIEWS: &[(&str, View, &str, &str, &str)] = &[
    ("CC", View::Cc, "R-10242", "399162004", "cranio-caudal"),
    ("MLO", View::Mlo, "R-10226", "399368009", "medio-lateral oblique"),
    ("ML", View::Ml, "R-10224", "399260004", "medio-lateral"),
    ("LM", View::Lm, "R-10228", "399352003", "latero-medial"),
    ("LMO", View::Lmo, "R-10230", "399099002", "latero-medial oblique"),
    ("FB", View::Fb, "R-10234", "399196006", "caudo-cranial (from below)"),
    ("SIO", View::Sio, "R-102D0", "399188001", "superolateral to inferomedial oblique"),
    ("XCCL", View::Xccl, "R-1024A", "399192008", "cranio-caudal exaggerated laterally"),
    ("XCCM", View::Xccm, "R-1024B", "399101009", "cranio-caudal exaggerated medially"),
    ("CV", View::Cv, "", "", "cleavage"),
    ("AT", View::At, "", "", "axillary tail"),
];

/// The view a ViewCodeSequence entry (code value or meaning) names.
fn view_from_coded_entry(value: &str, meaning: &str) -> Option<View> {
    let value = value.trim();
    let meaning = meaning.trim().to_ascii_lowercase();
    VIEWS
        .iter()
        .find(|v| (!value.is_empty() && (v.2 == value || v.3 == value)) || (!meaning.is_empty() && v.4 == meaning))
        .map(|v| v.1)
}

/// A laterality code string (padding tolerated).
fn laterality_code(text: &str) -> Option<Laterality> {
    Laterality::parse(text.trim())
}

/// Photometric interpretation of the stored values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Photometric {
    /// Low values are bright; must be inverted for display and models.
    #[serde(rename = "MONOCHROME1")]
    Monochrome1,
    /// Low values are dark.
    #[serde(rename = "MONOCHROME2")]
    Monochrome2,
}

/// Presentation Intent Type (0008,0068).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PresentationIntent {
    /// Processed by the modality for viewing.
    #[serde(rename = "FOR PRESENTATION")]
    ForPresentation,
    /// Raw detector data, needs vendor processing before viewing.
    #[serde(rename = "FOR PROCESSING")]
    ForProcessing,
}

/// One VOI window from the header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// Window Center (0028,1050).
    pub center: f64,
    /// Window Width (0028,1051).
    pub width: f64,
    /// Window Center & Width Explanation (0028,1055), if given.
    pub explanation: Option<String>,
}

/// Transfer syntax of the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferSyntax {
    /// UID.
    pub uid: String,
    /// Human-readable name.
    pub name: String,
}

/// The typed metadata of one mammography instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MammoMeta {
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: String,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Uid,
    /// Study Instance UID (0020,000D).
    pub study_instance_uid: Uid,
    /// Series Instance UID (0020,000E).
    pub series_instance_uid: Uid,
    /// Modality (0008,0060), always `MG` after validation.
    pub modality: String,
    /// Breast laterality.
    pub laterality: Laterality,
    /// View.
    pub view: View,
    /// Photometric interpretation.
    pub photometric: Photometric,
    /// Rows (0028,0010).
    pub rows: u32,
    /// Columns (0028,0011).
    pub columns: u32,
    /// Bits Allocated (0028,0100).
    pub bits_allocated: u16,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// High Bit (0028,0102).
    pub high_bit: u16,
    /// Pixel Representation (0028,0103): whether stored values are signed.
    pub signed: bool,
    /// Number of Frames (0028,0008), 1 when absent.
    pub number_of_frames: u32,
    /// Rescale Slope (0028,1053), 1 when absent.
    pub rescale_slope: f64,
    /// Rescale Intercept (0028,1052), 0 when absent.
    pub rescale_intercept: f64,
    /// VOI windows, in header order.
    pub windows: Vec<Window>,
    /// VOI LUT Function (0028,1056): LINEAR, LINEAR_EXACT or SIGMOID.
    pub voi_lut_function: Option<String>,
    /// Pixel Spacing (0028,0030) in mm, [row, column].
    pub pixel_spacing: Option<[f64; 2]>,
    /// Imager Pixel Spacing (0018,1164) in mm, [row, column].
    pub imager_pixel_spacing: Option<[f64; 2]>,
    /// Breast Implant Present (0028,1300).
    pub breast_implant_present: Option<bool>,
    /// Partial View (0028,1350).
    pub partial_view: Option<bool>,
    /// Presentation Intent Type (0008,0068).
    pub presentation_intent: Option<PresentationIntent>,
    /// Patient Orientation (0020,0020), e.g. `["A", "R"]`.
    pub patient_orientation: Vec<String>,
    /// Transfer syntax.
    pub transfer_syntax: TransferSyntax,
    /// What was inferred from fallback attributes (lenient profile), in plain words.
    pub inferred: Vec<String>,
}

macro_rules! attr {
    ($kw:ident) => {
        $crate::error::Attr::of(dicom_dictionary_std::tags::$kw)
    };
}
pub(crate) use attr;

/// Read access to the attributes of one data set, with typed errors.
pub(crate) struct Reader<'a>(pub &'a InMemDicomObject);

impl Reader<'_> {
    /// The trimmed string value, or None when absent or empty.
    pub(crate) fn str(&self, tag: Tag) -> Option<Cow<'_, str>> {
        let v = self.0.get(tag)?.to_str().ok()?;
        let t = v.trim_end_matches(['\0', ' ']).trim_start();
        if t.is_empty() { None } else { Some(Cow::Owned(t.to_owned())) }
    }

    pub(crate) fn required_str(&self, tag: Tag, attr: Attr, expected: &'static str) -> Result<String, ErrorKind> {
        self.str(tag).map(Cow::into_owned).ok_or(ErrorKind::Missing { attr, expected })
    }

    /// A required UID attribute, validated by the one UID rule ([`Uid::parse`]).
    pub(crate) fn required_uid(&self, tag: Tag, attr: Attr) -> Result<Uid, ErrorKind> {
        let text = self.required_str(tag, attr, "a UID")?;
        Uid::parse(&text).map_err(|source| ErrorKind::InvalidUid { attr, source })
    }

    pub(crate) fn multi_str(&self, tag: Tag) -> Vec<String> {
        self.str(tag)
            .map(|s| s.split('\\').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default()
    }

    /// An integer attribute; absent → None, unparsable or out of range → Invalid.
    pub(crate) fn int<T: TryFrom<i64>>(
        &self,
        tag: Tag,
        attr: Attr,
        expected: &'static str,
    ) -> Result<Option<T>, ErrorKind> {
        let Some(elem) = self.0.get(tag) else { return Ok(None) };
        if elem.value().is_empty() {
            return Ok(None);
        }
        elem.to_int::<i64>().ok().and_then(|v| T::try_from(v).ok()).map(Some).ok_or_else(|| ErrorKind::Invalid {
            attr,
            expected: expected.to_owned(),
            found: elem.to_str().map(|s| s.trim().to_owned()).unwrap_or_else(|_| "<unreadable>".to_owned()),
        })
    }

    pub(crate) fn required_int<T: TryFrom<i64>>(
        &self,
        tag: Tag,
        attr: Attr,
        expected: &'static str,
    ) -> Result<T, ErrorKind> {
        self.int(tag, attr, expected)?.ok_or(ErrorKind::Missing { attr, expected })
    }

    pub(crate) fn floats(&self, tag: Tag, attr: Attr, expected: &'static str) -> Result<Vec<f64>, ErrorKind> {
        let Some(elem) = self.0.get(tag) else { return Ok(Vec::new()) };
        if elem.value().is_empty() {
            return Ok(Vec::new());
        }
        elem.to_multi_float64().map_err(|_| ErrorKind::Invalid {
            attr,
            expected: expected.to_owned(),
            found: elem.to_str().map(|s| s.trim().to_owned()).unwrap_or_else(|_| "<unreadable>".to_owned()),
        })
    }

    fn float_or(&self, tag: Tag, attr: Attr, default: f64) -> Result<f64, ErrorKind> {
        Ok(self.floats(tag, attr, "a decimal number")?.first().copied().unwrap_or(default))
    }

    fn spacing(&self, tag: Tag, attr: Attr) -> Result<Option<[f64; 2]>, ErrorKind> {
        let v = self.floats(tag, attr, "two positive decimals (row\\column spacing in mm)")?;
        match v.as_slice() {
            [] => Ok(None),
            [r, c] if *r > 0.0 && *c > 0.0 => Ok(Some([*r, *c])),
            _ => Err(ErrorKind::Invalid {
                attr,
                expected: "two positive decimals (row\\column spacing in mm)".to_owned(),
                found: format!("{v:?}"),
            }),
        }
    }

    fn yes_no(&self, tag: Tag, attr: Attr) -> Result<Option<bool>, ErrorKind> {
        match self.str(tag).as_deref() {
            None => Ok(None),
            Some("YES") => Ok(Some(true)),
            Some("NO") => Ok(Some(false)),
            Some(other) => Err(ErrorKind::Invalid { attr, expected: "YES or NO".to_owned(), found: other.to_owned() }),
        }
    }
}

/// Extract and validate mammography metadata under a profile.
pub(crate) fn extract(obj: &InMemDicomObject, ts_uid: &str, profile: Profile) -> Result<MammoMeta, ErrorKind> {
    let r = Reader(obj);
    let mut inferred = Vec::new();

    let sop_class_uid = r.required_str(tags::SOP_CLASS_UID, attr!(SOP_CLASS_UID), "a SOP Class UID")?;
    let sop_ok = sop_class_uid == MG_FOR_PRESENTATION
        || sop_class_uid == MG_FOR_PROCESSING
        || (profile == Profile::Lenient && LENIENT_EXTRA_SOP_CLASSES.contains(&sop_class_uid.as_str()));
    if !sop_ok {
        let expected = match profile {
            Profile::Strict => "a Digital Mammography X-Ray Image SOP class (the lenient profile also accepts \
                                 Secondary Capture, CR and DX)"
                .to_owned(),
            Profile::Lenient => "a Digital Mammography, Secondary Capture, CR or DX SOP class".to_owned(),
        };
        return Err(ErrorKind::Invalid { attr: attr!(SOP_CLASS_UID), expected, found: sop_class_uid });
    }
    if profile == Profile::Lenient && sop_class_uid != MG_FOR_PRESENTATION && sop_class_uid != MG_FOR_PROCESSING {
        inferred.push(format!("accepted non-mammography SOP class {sop_class_uid} as a mammogram (Modality MG)"));
    }

    let modality = r.required_str(tags::MODALITY, attr!(MODALITY), "MG")?;
    if modality != "MG" {
        return Err(ErrorKind::Invalid { attr: attr!(MODALITY), expected: "MG".to_owned(), found: modality });
    }
    let study_instance_uid = r.required_uid(tags::STUDY_INSTANCE_UID, attr!(STUDY_INSTANCE_UID))?;
    let series_instance_uid = r.required_uid(tags::SERIES_INSTANCE_UID, attr!(SERIES_INSTANCE_UID))?;
    let sop_instance_uid = r.required_uid(tags::SOP_INSTANCE_UID, attr!(SOP_INSTANCE_UID))?;

    let laterality = laterality(&r, profile, &mut inferred)?;
    let view = view(&r, profile, &mut inferred)?;

    let photometric = match r.str(tags::PHOTOMETRIC_INTERPRETATION).as_deref() {
        Some("MONOCHROME1") => Photometric::Monochrome1,
        Some("MONOCHROME2") => Photometric::Monochrome2,
        Some(other) => {
            return Err(ErrorKind::Invalid {
                attr: attr!(PHOTOMETRIC_INTERPRETATION),
                expected: "MONOCHROME1 or MONOCHROME2".to_owned(),
                found: other.to_owned(),
            });
        }
        None => {
            return Err(ErrorKind::Missing {
                attr: attr!(PHOTOMETRIC_INTERPRETATION),
                expected: "MONOCHROME1 or MONOCHROME2",
            });
        }
    };
    let samples: u16 = r.int(tags::SAMPLES_PER_PIXEL, attr!(SAMPLES_PER_PIXEL), "1")?.unwrap_or(1);
    if samples != 1 {
        return Err(ErrorKind::Invalid {
            attr: attr!(SAMPLES_PER_PIXEL),
            expected: "1 (grayscale)".to_owned(),
            found: samples.to_string(),
        });
    }
    let geometry = crate::pixels::Geometry::read(&r)?;

    let centers = r.floats(tags::WINDOW_CENTER, attr!(WINDOW_CENTER), "decimal numbers")?;
    let widths = r.floats(tags::WINDOW_WIDTH, attr!(WINDOW_WIDTH), "decimal numbers")?;
    if centers.len() != widths.len() {
        return Err(ErrorKind::Invalid {
            attr: attr!(WINDOW_WIDTH),
            expected: format!("as many values as Window Center ({})", centers.len()),
            found: format!("{} values", widths.len()),
        });
    }
    let explanations = r.multi_str(tags::WINDOW_CENTER_WIDTH_EXPLANATION);
    let windows = centers
        .iter()
        .zip(&widths)
        .enumerate()
        .map(|(i, (&center, &width))| Window { center, width, explanation: explanations.get(i).cloned() })
        .collect();

    let presentation_intent = match r.str(tags::PRESENTATION_INTENT_TYPE).as_deref() {
        None => None,
        Some("FOR PRESENTATION") => Some(PresentationIntent::ForPresentation),
        Some("FOR PROCESSING") => Some(PresentationIntent::ForProcessing),
        Some(other) => {
            return Err(ErrorKind::Invalid {
                attr: attr!(PRESENTATION_INTENT_TYPE),
                expected: "FOR PRESENTATION or FOR PROCESSING".to_owned(),
                found: other.to_owned(),
            });
        }
    };

    Ok(MammoMeta {
        sop_class_uid,
        sop_instance_uid,
        study_instance_uid,
        series_instance_uid,
        modality,
        laterality,
        view,
        photometric,
        rows: geometry.rows,
        columns: geometry.columns,
        bits_allocated: geometry.bits_allocated,
        bits_stored: geometry.bits_stored,
        high_bit: geometry.high_bit,
        signed: geometry.signed,
        number_of_frames: geometry.frames,
        rescale_slope: r.float_or(tags::RESCALE_SLOPE, attr!(RESCALE_SLOPE), 1.0)?,
        rescale_intercept: r.float_or(tags::RESCALE_INTERCEPT, attr!(RESCALE_INTERCEPT), 0.0)?,
        windows,
        voi_lut_function: r.str(tags::VOILUT_FUNCTION).map(Cow::into_owned),
        pixel_spacing: r.spacing(tags::PIXEL_SPACING, attr!(PIXEL_SPACING))?,
        imager_pixel_spacing: r.spacing(tags::IMAGER_PIXEL_SPACING, attr!(IMAGER_PIXEL_SPACING))?,
        breast_implant_present: r.yes_no(tags::BREAST_IMPLANT_PRESENT, attr!(BREAST_IMPLANT_PRESENT))?,
        partial_view: r.yes_no(tags::PARTIAL_VIEW, attr!(PARTIAL_VIEW))?,
        presentation_intent,
        patient_orientation: r.multi_str(tags::PATIENT_ORIENTATION),
        transfer_syntax: TransferSyntax { uid: ts_uid.to_owned(), name: crate::ts::name(ts_uid) },
        inferred,
    })
}

fn laterality(r: &Reader<'_>, profile: Profile, inferred: &mut Vec<String>) -> Result<Laterality, ErrorKind> {
    if let Some(s) = r.str(tags::IMAGE_LATERALITY) {
        return laterality_code(&s).ok_or_else(|| ErrorKind::Invalid {
            attr: attr!(IMAGE_LATERALITY),
            expected: "L or R".to_owned(),
            found: s.into_owned(),
        });
    }
    if profile == Profile::Lenient
        && let Some(s) = r.str(tags::LATERALITY)
    {
        let lat = laterality_code(&s).ok_or_else(|| ErrorKind::Invalid {
            attr: attr!(LATERALITY),
            expected: "L or R".to_owned(),
            found: s.clone().into_owned(),
        })?;
        inferred.push(format!("laterality {} from Laterality (0020,0060)", lat.code()));
        return Ok(lat);
    }
    Err(ErrorKind::Missing {
        attr: attr!(IMAGE_LATERALITY),
        expected: match profile {
            Profile::Strict => "L or R (the lenient profile also accepts Laterality (0020,0060))",
            Profile::Lenient => "L or R in ImageLaterality (0020,0062) or Laterality (0020,0060)",
        },
    })
}

fn view(r: &Reader<'_>, profile: Profile, inferred: &mut Vec<String>) -> Result<View, ErrorKind> {
    if let Some(s) = r.str(tags::VIEW_POSITION) {
        return View::from_code(&s).ok_or_else(|| ErrorKind::Invalid {
            attr: attr!(VIEW_POSITION),
            expected: "a mammographic view (CC, MLO, ML, LM, LMO, FB, SIO, XCCL, XCCM, CV, AT)".to_owned(),
            found: s.into_owned(),
        });
    }
    // ViewCodeSequence is Type 1 in the Digital Mammography IOD: the standard's own fallback.
    if let Some(items) = r.0.get(tags::VIEW_CODE_SEQUENCE).and_then(|e| e.items())
        && let Some(item) = items.first()
    {
        let ir = Reader(item);
        let value = ir.str(tags::CODE_VALUE).unwrap_or_default();
        let meaning = ir.str(tags::CODE_MEANING).unwrap_or_default();
        if let Some(v) = view_from_coded_entry(&value, &meaning) {
            inferred.push(format!("view {} from ViewCodeSequence (0054,0220) code {value}", v.code()));
            return Ok(v);
        }
    }
    if profile == Profile::Lenient {
        let orientation = r.multi_str(tags::PATIENT_ORIENTATION);
        if let Some(v) = orientation.iter().find_map(|p| View::from_code(p)) {
            inferred.push(format!("view {} from PatientOrientation (0020,0020)", v.code()));
            return Ok(v);
        }
    }
    Err(ErrorKind::Missing {
        attr: attr!(VIEW_POSITION),
        expected: match profile {
            Profile::Strict => "a mammographic view in ViewPosition (0018,5101) or ViewCodeSequence (0054,0220)",
            Profile::Lenient => "a mammographic view in ViewPosition, ViewCodeSequence or PatientOrientation",
        },
    })
}
