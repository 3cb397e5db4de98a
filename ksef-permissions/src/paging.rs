//! Walking every page of the offset-paged permission queries.
//!
//! The queries answer one page (`pageOffset`, `pageSize` 10..=100) and `hasMore`. The helpers
//! here build the call for page 0, 1, 2, … with a closure (so any query builder fits), send each
//! through a [`Pipeline`], and stop after the first page whose `hasMore` is `false`.
//!
//! ```rust,no_run
//! use ksef_permissions::paging::pages_blocking;
//! use ksef_permissions::query::{PersonsQuery, PersonsQueryType};
//! use ksef_transport::{Pipeline, RequestContext, SyncTransport};
//!
//! fn all_people(t: &impl SyncTransport, ctx: &RequestContext) -> Result<usize, Box<dyn std::error::Error>> {
//!     let pipeline = Pipeline::new();
//!     let mut n = 0;
//!     for page in pages_blocking(&pipeline, t, ctx, 100, std::thread::sleep, |page| {
//!         PersonsQuery::new(PersonsQueryType::InCurrentContext).page(page).build()
//!     }) {
//!         n += page?.permissions.len();
//!     }
//!     Ok(n)
//! }
//! ```

use core::time::Duration;

use ksef_model::Operation;
use ksef_model::types;
use ksef_transport::{AsyncTransport, Pipeline, RequestBody, RequestContext, ResponseBody, SyncTransport};

use crate::error::ValidationError;
use crate::query::{Call, Page};

/// A response of an offset-paged query: it says whether more pages follow.
pub trait PagedResponse {
    /// `hasMore`.
    fn has_more(&self) -> bool;
}

macro_rules! paged {
    ($($t:ident),* $(,)?) => {$(
        impl PagedResponse for types::$t {
            fn has_more(&self) -> bool {
                self.has_more
            }
        }
    )*};
}

paged!(
    QueryPersonPermissionsResponse,
    QueryPersonalPermissionsResponse,
    QueryEntityPermissionsResponse,
    QueryEntityAuthorizationPermissionsResponse,
    QuerySubunitPermissionsResponse,
    QueryEuEntityPermissionsResponse,
    QueryEntityRolesResponse,
    QuerySubordinateEntityRolesResponse,
);

/// Why walking the pages stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// The call for a page could not be built.
    #[error("building the query for page {offset} failed")]
    Build {
        /// The page number (0-based).
        offset: u32,
        /// Why.
        #[source]
        source: ValidationError,
    },
    /// Sending the query for a page failed.
    #[error("querying page {offset} failed")]
    Request {
        /// The page number (0-based).
        offset: u32,
        /// The transport-level error.
        #[source]
        source: ksef_transport::Error,
    },
}

impl PageError {
    /// The page at which it stopped.
    pub fn offset(&self) -> u32 {
        match self {
            Self::Build { offset, .. } | Self::Request { offset, .. } => *offset,
        }
    }
}

/// A blocking iterator over the pages of one query; see [`pages_blocking`].
pub struct Pages<'a, O, T: ?Sized, F, S> {
    pipeline: &'a Pipeline,
    transport: &'a T,
    ctx: &'a RequestContext,
    size: u32,
    next: Option<u32>,
    make: F,
    sleep: S,
    _op: core::marker::PhantomData<fn() -> O>,
}

impl<O, T: ?Sized, F, S> core::fmt::Debug for Pages<'_, O, T, F, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pages").field("size", &self.size).field("next", &self.next).finish_non_exhaustive()
    }
}

/// Pages `0, 1, …` of the query that `make(page)` builds, `size` items each (10..=100), sent
/// through `pipeline` one by one as the iterator is advanced. Ends after the first page with
/// `hasMore == false`, or after the first error (which it yields).
pub fn pages_blocking<'a, O, T, F, S>(
    pipeline: &'a Pipeline,
    transport: &'a T,
    ctx: &'a RequestContext,
    size: u32,
    sleep: S,
    make: F,
) -> Pages<'a, O, T, F, S>
where
    O: Operation,
    T: SyncTransport + ?Sized,
    F: FnMut(Page) -> Result<Call<O>, ValidationError>,
    S: Fn(Duration),
{
    Pages { pipeline, transport, ctx, size, next: Some(0), make, sleep, _op: core::marker::PhantomData }
}

impl<O, T, F, S> Iterator for Pages<'_, O, T, F, S>
where
    O: Operation,
    O::Request: RequestBody,
    O::Response: ResponseBody + PagedResponse,
    T: SyncTransport + ?Sized,
    F: FnMut(Page) -> Result<Call<O>, ValidationError>,
    S: Fn(Duration),
{
    type Item = Result<O::Response, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.next.take()?;
        let call = match Page::new(offset, self.size).and_then(&mut self.make) {
            Ok(call) => call,
            Err(source) => return Some(Err(PageError::Build { offset, source })),
        };
        match call.execute_blocking(self.pipeline, self.transport, self.ctx, &self.sleep) {
            Ok(resp) => {
                if resp.value.has_more() {
                    self.next = offset.checked_add(1);
                }
                Some(Ok(resp.value))
            }
            Err(source) => Some(Err(PageError::Request { offset, source })),
        }
    }
}

/// Calls `each` with every page of the query that `make(page)` builds (async; `sleep` returns a
/// future, e.g. `tokio::time::sleep`). Returns the number of pages read.
///
/// # Errors
/// The first [`PageError`]; pages before it were already passed to `each`.
pub async fn for_each_page_async<O, T, F, S, Fut, E>(
    pipeline: &Pipeline,
    transport: &T,
    ctx: &RequestContext,
    size: u32,
    sleep: S,
    mut make: F,
    mut each: E,
) -> Result<u32, PageError>
where
    O: Operation,
    O::Request: RequestBody,
    O::Response: ResponseBody + PagedResponse,
    T: AsyncTransport + Sync + ?Sized,
    F: FnMut(Page) -> Result<Call<O>, ValidationError>,
    S: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
    E: FnMut(O::Response),
{
    let mut offset = 0u32;
    loop {
        let call = Page::new(offset, size).and_then(&mut make).map_err(|source| PageError::Build { offset, source })?;
        let resp = call
            .execute_async(pipeline, transport, ctx, &sleep)
            .await
            .map_err(|source| PageError::Request { offset, source })?;
        let more = resp.value.has_more();
        each(resp.value);
        let Some(next) = offset.checked_add(1).filter(|_| more) else {
            return Ok(offset + 1);
        };
        offset = next;
    }
}
