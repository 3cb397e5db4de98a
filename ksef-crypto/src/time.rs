use core::time::Duration;

/// A point in time as whole seconds since the Unix epoch (UTC).
///
/// All time-dependent operations (certificate validity, signing time, key selection) take
/// the time explicitly; with the `std` feature `UnixTime::now` reads the system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// From seconds since the Unix epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// From milliseconds since the Unix epoch (truncated to seconds).
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis / 1000)
    }

    /// Seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The current system time.
    #[cfg(feature = "std")]
    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self(d.as_secs())
    }

    pub(crate) fn from_x509(t: &x509_cert::time::Time) -> Self {
        Self(t.to_unix_duration().as_secs())
    }

    pub(crate) fn to_der_datetime(self) -> Result<der::DateTime, crate::Error> {
        der::DateTime::from_unix_duration(Duration::from_secs(self.0)).map_err(|_| crate::Error::Der)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (xsd:dateTime, UTC).
    pub(crate) fn to_xsd_datetime(self) -> Result<alloc::string::String, crate::Error> {
        let dt = self.to_der_datetime()?;
        Ok(alloc::format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        ))
    }
}
