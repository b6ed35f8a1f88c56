//! Change stream options that rules ask for.

/// The change stream's `fullDocument` option. Ordered by strength: a stream
/// shared by several rules uses the strongest any of them asks for.
///
/// ```
/// use herald_core::FullDocument;
/// assert_eq!(FullDocument::parse("updateLookup"), Some(FullDocument::UpdateLookup));
/// assert!(FullDocument::Required > FullDocument::UpdateLookup);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum FullDocument {
    /// Updates carry only `updateDescription`.
    #[default]
    Default,
    /// Post-image if the collection records them, else null.
    WhenAvailable,
    /// Updates carry the current document, looked up when the event is read.
    UpdateLookup,
    /// Post-image required; the stream fails without one.
    Required,
}

impl FullDocument {
    /// MongoDB's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::WhenAvailable => "whenAvailable",
            Self::UpdateLookup => "updateLookup",
            Self::Required => "required",
        }
    }

    /// Parses MongoDB's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "default" => Self::Default,
            "whenAvailable" => Self::WhenAvailable,
            "updateLookup" => Self::UpdateLookup,
            "required" => Self::Required,
            _ => return None,
        })
    }
}

/// The `fullDocumentBeforeChange` option: whether events carry the document
/// as it was before the change (pre-images, MongoDB 6.0+).
///
/// ```
/// use herald_core::FullDocumentBeforeChange;
/// assert_eq!(FullDocumentBeforeChange::parse("required"), Some(FullDocumentBeforeChange::Required));
/// assert!(FullDocumentBeforeChange::Required > FullDocumentBeforeChange::WhenAvailable);
/// assert_eq!(FullDocumentBeforeChange::default().as_str(), "off");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum FullDocumentBeforeChange {
    /// No pre-image.
    #[default]
    Off,
    /// The pre-image if the collection records them, else null.
    WhenAvailable,
    /// The pre-image is required; the stream fails without one.
    Required,
}

impl FullDocumentBeforeChange {
    /// MongoDB's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::WhenAvailable => "whenAvailable",
            Self::Required => "required",
        }
    }

    /// Parses MongoDB's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => Self::Off,
            "whenAvailable" => Self::WhenAvailable,
            "required" => Self::Required,
            _ => return None,
        })
    }
}
