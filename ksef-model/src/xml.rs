//! Raw XML documents (AuthTokenRequest, invoices, UPO).

/// The bytes of an XML document sent or received as `application/xml`.
///
/// KSeF hashes documents byte for byte (`invoiceHash`, `x-ms-meta-hash`), so they are kept as
/// bytes, never re-encoded.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct XmlDocument(pub Vec<u8>);

impl XmlDocument {
    /// The document's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The document as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(&self.0).ok()
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl core::fmt::Debug for XmlDocument {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "XmlDocument({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for XmlDocument {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<String> for XmlDocument {
    fn from(s: String) -> Self {
        Self(s.into_bytes())
    }
}
