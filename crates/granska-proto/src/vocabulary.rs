//! The vocabulary's protobuf enums ↔ the domain's (`granska-types`): the one place where the
//! two meet, exhaustive in both directions, so a value added on one side fails the build until
//! the other has it. Edges send [`wire`]; clients show [`name`] (the domain's own word).

use crate::v1;

/// A protobuf enum value with no domain meaning: `*_UNSPECIFIED` (0) or a number this build
/// does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{enum_name} value {value} is unspecified or unknown")]
pub struct Unspecified {
    /// The protobuf enum.
    pub enum_name: &'static str,
    /// The value received.
    pub value: i32,
}

macro_rules! enum_map {
    ($($domain:ident <=> $proto:ident { $($d:ident = $p:ident),+ $(,)? })+) => {$(
        impl From<granska_types::$domain> for v1::$proto {
            fn from(d: granska_types::$domain) -> v1::$proto {
                match d {
                    $(granska_types::$domain::$d => v1::$proto::$p,)+
                }
            }
        }

        impl TryFrom<v1::$proto> for granska_types::$domain {
            type Error = Unspecified;
            fn try_from(p: v1::$proto) -> Result<granska_types::$domain, Unspecified> {
                match p {
                    $(v1::$proto::$p => Ok(granska_types::$domain::$d),)+
                    v1::$proto::Unspecified => Err(Unspecified { enum_name: stringify!($proto), value: 0 }),
                }
            }
        }

        impl Vocabulary for granska_types::$domain {
            fn from_wire(value: i32) -> Result<Self, Unspecified> {
                let p = v1::$proto::try_from(value)
                    .map_err(|_| Unspecified { enum_name: stringify!($proto), value })?;
                granska_types::$domain::try_from(p).map_err(|e| Unspecified { value, ..e })
            }
            fn to_wire(self) -> i32 {
                v1::$proto::from(self) as i32
            }
            fn word(self) -> &'static str {
                self.as_str()
            }
        }
    )+};
}

/// A domain enum with a protobuf twin.
pub trait Vocabulary: Sized + Copy {
    /// The domain value of a received enum field.
    fn from_wire(value: i32) -> Result<Self, Unspecified>;
    /// The enum field's value to send.
    fn to_wire(self) -> i32;
    /// The domain's word for it (`needs-attention`, `MLO`, …).
    fn word(self) -> &'static str;
}

/// The value to put in a protobuf enum field.
pub fn wire<D: Vocabulary>(d: D) -> i32 {
    d.to_wire()
}

/// The domain word of a received enum field, `""` for UNSPECIFIED (a field that is not set,
/// e.g. an outcome before the final read) and `unknown(N)` for a number this build does not know.
pub fn name<D: Vocabulary>(value: i32) -> String {
    match D::from_wire(value) {
        Ok(d) => d.word().to_owned(),
        Err(_) if value == 0 => String::new(),
        Err(_) => format!("unknown({value})"),
    }
}

enum_map! {
    ExamStatus <=> ExamStatus { Scored = Scored, Incomplete = Incomplete, Unscorable = Unscorable }
    ReadingMode <=> ReadingMode { Single = Single, Double = Double }
    Flag <=> Flag {
        ExtraHigh = ExtraHigh,
        SafetyNet = SafetyNet,
        LikelyNormal = LikelyNormal,
        Incomplete = Incomplete,
        Unscorable = Unscorable,
    }
    TaskKind <=> TaskKind { First = First, Second = Second, Consensus = Consensus }
    TaskState <=> TaskState { Queued = Queued, Claimed = Claimed, Done = Done, Cancelled = Cancelled }
    ReadDecision <=> ReadDecision { Recall = Recall, NoRecall = NoRecall }
    OutcomeVia <=> OutcomeVia { Single = Single, Concordant = Concordant, Consensus = Consensus }
    StudyState <=> StudyState {
        Receiving = Receiving,
        Complete = Complete,
        Routed = Routed,
        NeedsAttention = NeedsAttention,
    }
    Completion <=> Completion {
        FourViews = FourViews,
        QuietPeriod = QuietPeriod,
        CompleteStudyCall = CompleteStudyCall,
        LateInstance = LateInstance,
        AssociationReleased = AssociationReleased,
    }
    ReportState <=> ReportState {
        Pending = Pending,
        Sent = Sent,
        Failed = Failed,
        Kept = Kept,
        Superseded = Superseded,
    }
    Laterality <=> Laterality { Left = L, Right = R }
    View <=> View {
        Cc = Cc,
        Mlo = Mlo,
        Ml = Ml,
        Lm = Lm,
        Lmo = Lmo,
        Fb = Fb,
        Sio = Sio,
        Xccl = Xccl,
        Xccm = Xccm,
        Cv = Cv,
        At = At,
    }
    ChangeKind <=> ChangeKind {
        Routed = Routed,
        Rerouted = Rerouted,
        Claimed = Claimed,
        Released = Released,
        Read = Read,
        Consensus = Consensus,
        Final = Final,
        Resync = Resync,
    }
    AfterRead <=> AfterRead { AwaitingOtherRead = AwaitingOtherRead, Consensus = Consensus, Final = Final }
    PolicyRule <=> PolicyRule { Masai = Masai, Threshold = Threshold, NormalTriage = NormalTriage, DoubleAll = DoubleAll }
}
