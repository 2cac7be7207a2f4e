//! SR content items (PS3.3 C.17.3) as a small typed tree, and their encoding into the nested
//! data sets of a DICOM SR: RelationshipType, ValueType, ConceptNameCodeSequence, the value
//! attributes of each value type, and ContentSequence for the children.

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use granska_types::Uid;

use crate::codes::Code;

/// How a child relates to its parent (PS3.3 C.17.3.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    Contains,
    HasProperties,
    HasConceptMod,
    HasAcqContext,
    InferredFrom,
}

impl Rel {
    fn as_str(self) -> &'static str {
        match self {
            Rel::Contains => "CONTAINS",
            Rel::HasProperties => "HAS PROPERTIES",
            Rel::HasConceptMod => "HAS CONCEPT MOD",
            Rel::HasAcqContext => "HAS ACQ CONTEXT",
            Rel::InferredFrom => "INFERRED FROM",
        }
    }
}

/// A content item's value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A CONTAINER, continuity SEPARATE.
    Container,
    Code(Code),
    Text(String),
    /// A NUM: the DS text and its units.
    Num(String, Code),
    /// An IMAGE reference: SOP class and instance.
    Image(Uid, Uid),
}

/// One content item and its children.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub concept: Option<Code>,
    pub value: Value,
    pub children: Vec<(Rel, Item)>,
}

impl Item {
    pub fn container(concept: Code, children: Vec<(Rel, Item)>) -> Item {
        Item { concept: Some(concept), value: Value::Container, children }
    }

    pub fn code(concept: Code, value: Code) -> Item {
        Item { concept: Some(concept), value: Value::Code(value), children: Vec::new() }
    }

    pub fn text(concept: Code, value: impl Into<String>) -> Item {
        Item { concept: Some(concept), value: Value::Text(value.into()), children: Vec::new() }
    }

    pub fn num(concept: Code, value: String, units: Code) -> Item {
        Item { concept: Some(concept), value: Value::Num(value, units), children: Vec::new() }
    }

    pub fn image(class: Uid, instance: Uid) -> Item {
        Item { concept: None, value: Value::Image(class, instance), children: Vec::new() }
    }

    pub fn with(mut self, children: Vec<(Rel, Item)>) -> Item {
        self.children = children;
        self
    }

    /// Writes this item's attributes into `obj` (the root data set for the document's root
    /// item, a new item data set otherwise).
    pub fn write_into(&self, obj: &mut InMemDicomObject, rel: Option<Rel>) {
        if let Some(rel) = rel {
            obj.put(cs(tags::RELATIONSHIP_TYPE, rel.as_str()));
        }
        let value_type = match &self.value {
            Value::Container => "CONTAINER",
            Value::Code(_) => "CODE",
            Value::Text(_) => "TEXT",
            Value::Num(..) => "NUM",
            Value::Image(..) => "IMAGE",
        };
        obj.put(cs(tags::VALUE_TYPE, value_type));
        if let Some(concept) = self.concept {
            obj.put(sequence(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(concept)]));
        }
        match &self.value {
            Value::Container => obj.put(cs(tags::CONTINUITY_OF_CONTENT, "SEPARATE")),
            Value::Code(code) => obj.put(sequence(tags::CONCEPT_CODE_SEQUENCE, vec![code_item(*code)])),
            Value::Text(text) => {
                obj.put(DataElement::new(tags::TEXT_VALUE, VR::UT, PrimitiveValue::from(text.as_str())))
            }
            Value::Num(number, units) => {
                let measured = InMemDicomObject::from_element_iter([
                    sequence(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, vec![code_item(*units)]),
                    DataElement::new(tags::NUMERIC_VALUE, VR::DS, PrimitiveValue::from(number.as_str())),
                ]);
                obj.put(sequence(tags::MEASURED_VALUE_SEQUENCE, vec![measured]))
            }
            Value::Image(class, instance) => obj.put(sequence(
                tags::REFERENCED_SOP_SEQUENCE,
                vec![InMemDicomObject::from_element_iter([
                    ui(tags::REFERENCED_SOP_CLASS_UID, class),
                    ui(tags::REFERENCED_SOP_INSTANCE_UID, instance),
                ])],
            )),
        };
        if !self.children.is_empty() {
            let items = self
                .children
                .iter()
                .map(|(rel, child)| {
                    let mut o = InMemDicomObject::new_empty();
                    child.write_into(&mut o, Some(*rel));
                    o
                })
                .collect();
            obj.put(sequence(tags::CONTENT_SEQUENCE, items));
        }
    }
}

/// A code sequence item.
pub(crate) fn code_item(code: Code) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(code.value)),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from(code.scheme)),
        DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(code.meaning)),
    ])
}

/// A sequence of items (undefined length, as most writers do).
pub(crate) fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED))
}

pub(crate) fn cs(tag: Tag, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::CS, PrimitiveValue::from(value))
}

pub(crate) fn ui(tag: Tag, uid: &Uid) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(uid.as_str()))
}
