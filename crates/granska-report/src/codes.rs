//! The coded concepts of the report, in one place, so that the tree and its reader agree and a
//! reviewer can check each against PS3.16 (TID 4000–4020, CIDs 6022, 6042, 6043, 6047, 4014).
//! Every code here was checked against the context groups Pixelmed's validator ships
//! (`DicomContextGroupsSource.xml`) and the validator's verdict on the reports this crate writes.

/// A coded entry: (CodeValue, CodingSchemeDesignator, CodeMeaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code {
    pub value: &'static str,
    pub scheme: &'static str,
    pub meaning: &'static str,
}

const fn dcm(value: &'static str, meaning: &'static str) -> Code {
    Code { value, scheme: "DCM", meaning }
}

const fn sct(value: &'static str, meaning: &'static str) -> Code {
    Code { value, scheme: "SCT", meaning }
}

// Document structure (TID 4000).
pub(crate) const MAMMOGRAPHY_CAD_REPORT: Code = dcm("111036", "Mammography CAD Report");
pub(crate) const LANGUAGE: Code = dcm("121049", "Language of Content Item and Descendants");
pub(crate) const ENGLISH: Code = Code { value: "en", scheme: "RFC5646", meaning: "English" };
pub(crate) const IMAGE_LIBRARY: Code = dcm("111028", "Image Library");
pub(crate) const IMAGE_LATERALITY: Code = dcm("111027", "Image Laterality");
pub(crate) const IMAGE_VIEW: Code = dcm("111031", "Image View");

// Findings summary (TID 4001, CID 6047) and its properties (TID 4002, TID 4019).
pub(crate) const FINDINGS_SUMMARY: Code = dcm("111017", "CAD Processing and Findings Summary");
pub(crate) const ALL_SUCCEEDED_WITHOUT_FINDINGS: Code = dcm("111241", "All algorithms succeeded; without findings");
pub(crate) const ALL_SUCCEEDED_WITH_FINDINGS: Code = dcm("111242", "All algorithms succeeded; with findings");
pub(crate) const NONE_SUCCEEDED_WITHOUT_FINDINGS: Code = dcm("111245", "No algorithms succeeded; without findings");
pub(crate) const ALGORITHM_NAME: Code = dcm("111001", "Algorithm Name");
pub(crate) const ALGORITHM_VERSION: Code = dcm("111003", "Algorithm Version");
pub(crate) const CERTAINTY_OF_IMPRESSION: Code = dcm("111013", "Certainty of impression");
pub(crate) const IMPRESSION_DESCRIPTION: Code = dcm("111033", "Impression Description");
pub(crate) const PERCENT: Code = Code { value: "%", scheme: "UCUM", meaning: "percent" };

// Detections and analyses performed (TID 4015–4018, CIDs 6042, 6043).
pub(crate) const SUMMARY_OF_DETECTIONS: Code = dcm("111064", "Summary of Detections");
pub(crate) const SUMMARY_OF_ANALYSES: Code = dcm("111065", "Summary of Analyses");
pub(crate) const SUCCEEDED: Code = dcm("111222", "Succeeded");
pub(crate) const FAILED: Code = dcm("111224", "Failed");
pub(crate) const NOT_ATTEMPTED: Code = dcm("111225", "Not Attempted");
pub(crate) const SUCCESSFUL_ANALYSES: Code = dcm("111062", "Successful Analyses");
pub(crate) const FAILED_ANALYSES: Code = dcm("111024", "Failed Analyses");
pub(crate) const ANALYSIS_PERFORMED: Code = dcm("111004", "Analysis Performed");
pub(crate) const OVERALL_IMPRESSION_ANALYSIS: Code = dcm("111234", "Overall Impression / Recommendation Analysis");

// Laterality (CID 6022) and view (CID 4014).
pub(crate) const RIGHT_BREAST: Code = sct("73056007", "Right breast");
pub(crate) const LEFT_BREAST: Code = sct("80248007", "Left breast");
pub(crate) const BOTH_BREASTS: Code = sct("63762007", "Both breasts");

/// The CID 4014 (View for Mammography) code of a ViewPosition value. CV (cleavage) and AT
/// (axillary tail) have no code of their own in CID 4014 (they are a view plus a modifier),
/// so their images carry no view concept rather than a guessed one.
pub(crate) fn view_code(view: granska_types::View) -> Option<Code> {
    use granska_types::View;
    Some(match view {
        View::Cc => sct("399162004", "cranio-caudal"),
        View::Mlo => sct("399368009", "medio-lateral oblique"),
        View::Ml => sct("399260004", "medio-lateral"),
        View::Lm => sct("399352003", "latero-medial"),
        View::Lmo => sct("399099002", "latero-medial oblique"),
        View::Fb => sct("399196006", "caudo-cranial (from below)"),
        View::Sio => sct("399188001", "superolateral to inferomedial oblique"),
        View::Xccl => sct("399192008", "cranio-caudal exaggerated laterally"),
        View::Xccm => sct("399101009", "cranio-caudal exaggerated medially"),
        View::Cv | View::At => return None,
    })
}
