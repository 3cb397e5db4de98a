//! Pagination over continuation-token listings (`x-continuation-token`) and `pageOffset`
//! listings (`hasMore`).
//!
//! Blocking: [`KsefClient::pages_blocking`] / [`KsefClient::offset_pages_blocking`] return
//! iterators of pages. Async: [`KsefClient::pages`] / [`KsefClient::offset_pages`] return a
//! pager with `next_page().await` (no `Stream` dependency).

use ksef_model::Operation;
use ksef_model::operations as ops;
use ksef_transport::{AsyncTransport, RequestBody, ResponseBody, SyncTransport};

use crate::KsefClient;
use crate::error::Error;

/// A listing paged with a continuation token.
pub trait ContinuationPaged: Operation {
    /// Sets the continuation token on the parameters.
    fn set_continuation(params: &mut Self::Params, token: Option<String>);
    /// The next page's token, if any.
    fn next_continuation(resp: &Self::Response) -> Option<String>;
}

/// A listing paged with `pageOffset` and answering `hasMore`.
pub trait OffsetPaged: Operation {
    /// Sets the page offset on the parameters.
    fn set_offset(params: &mut Self::Params, offset: i32);
    /// The current page offset (default 0).
    fn offset(params: &Self::Params) -> i32;
    /// Whether more pages follow.
    fn has_more(resp: &Self::Response) -> bool;
}

macro_rules! continuation {
    ($($op:ident),* $(,)?) => {$(
        impl ContinuationPaged for ops::$op {
            fn set_continuation(params: &mut Self::Params, token: Option<String>) {
                params.continuation_token = token;
            }
            fn next_continuation(resp: &Self::Response) -> Option<String> {
                resp.continuation_token.clone().filter(|t| !t.is_empty())
            }
        }
    )*};
}

macro_rules! offset {
    ($($op:ident),* $(,)?) => {$(
        impl OffsetPaged for ops::$op {
            fn set_offset(params: &mut Self::Params, offset: i32) {
                params.page_offset = Some(offset);
            }
            fn offset(params: &Self::Params) -> i32 {
                params.page_offset.unwrap_or(0)
            }
            fn has_more(resp: &Self::Response) -> bool {
                resp.has_more
            }
        }
    )*};
}

continuation!(
    ListAuthSessions,
    ListSessions,
    ListSessionInvoices,
    ListFailedSessionInvoices,
    ListTokens,
    QueryCollectiveIdentifiers,
    QueryCollectiveIdentifierInvoices,
    GetCollectiveIdentifiersByKsefNumber,
);

offset!(
    QueryCertificates,
    QueryInvoiceMetadata,
    QueryPeppolProviders,
    QueryPersonalPermissions,
    QueryPersonPermissions,
    QuerySubunitPermissions,
    QueryEntityPermissions,
    QueryEntityRoles,
    QuerySubordinateEntityRoles,
    QueryAuthorizationPermissions,
    QueryEuEntityPermissions,
);

/// Blocking iterator over the pages of a continuation-token listing.
#[derive(Debug)]
pub struct Pages<'c, T, O: Operation> {
    client: &'c KsefClient<T>,
    params: O::Params,
    body: O::Request,
    done: bool,
}

impl<T, O> Iterator for Pages<'_, T, O>
where
    T: SyncTransport,
    O: ContinuationPaged,
    O::Request: RequestBody + Clone,
    O::Response: ResponseBody,
{
    type Item = Result<O::Response, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.client.call_blocking::<O>(&self.params, self.body.clone()) {
            Ok(r) => {
                let next = O::next_continuation(&r.value);
                self.done = next.is_none();
                O::set_continuation(&mut self.params, next);
                Some(Ok(r.value))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Blocking iterator over the pages of a `pageOffset` listing.
#[derive(Debug)]
pub struct OffsetPages<'c, T, O: Operation> {
    client: &'c KsefClient<T>,
    params: O::Params,
    body: O::Request,
    done: bool,
}

impl<T, O> Iterator for OffsetPages<'_, T, O>
where
    T: SyncTransport,
    O: OffsetPaged,
    O::Request: RequestBody + Clone,
    O::Response: ResponseBody,
{
    type Item = Result<O::Response, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.client.call_blocking::<O>(&self.params, self.body.clone()) {
            Ok(r) => {
                self.done = !O::has_more(&r.value);
                let next = O::offset(&self.params).saturating_add(1);
                O::set_offset(&mut self.params, next);
                Some(Ok(r.value))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Async pager: call [`Pager::next_page`] until it returns `None`.
#[derive(Debug)]
pub struct Pager<'c, T, O: Operation> {
    client: &'c KsefClient<T>,
    params: O::Params,
    body: O::Request,
    done: bool,
}

impl<T, O> Pager<'_, T, O>
where
    T: AsyncTransport + Sync,
    O: ContinuationPaged,
    O::Request: RequestBody + Clone,
    O::Response: ResponseBody,
{
    /// The next page, or `None` after the last one (or after an error).
    pub async fn next_page(&mut self) -> Option<Result<O::Response, Error>> {
        if self.done {
            return None;
        }
        match self.client.call::<O>(&self.params, self.body.clone()).await {
            Ok(r) => {
                let next = O::next_continuation(&r.value);
                self.done = next.is_none();
                O::set_continuation(&mut self.params, next);
                Some(Ok(r.value))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Async pager over a `pageOffset` listing.
#[derive(Debug)]
pub struct OffsetPager<'c, T, O: Operation> {
    client: &'c KsefClient<T>,
    params: O::Params,
    body: O::Request,
    done: bool,
}

impl<T, O> OffsetPager<'_, T, O>
where
    T: AsyncTransport + Sync,
    O: OffsetPaged,
    O::Request: RequestBody + Clone,
    O::Response: ResponseBody,
{
    /// The next page, or `None` after the last one (or after an error).
    pub async fn next_page(&mut self) -> Option<Result<O::Response, Error>> {
        if self.done {
            return None;
        }
        match self.client.call::<O>(&self.params, self.body.clone()).await {
            Ok(r) => {
                self.done = !O::has_more(&r.value);
                let next = O::offset(&self.params).saturating_add(1);
                O::set_offset(&mut self.params, next);
                Some(Ok(r.value))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<T> KsefClient<T> {
    /// Pages of a continuation-token listing, starting from `params` (blocking iterator).
    pub fn pages_blocking<O: ContinuationPaged>(&self, params: O::Params, body: O::Request) -> Pages<'_, T, O> {
        Pages { client: self, params, body, done: false }
    }

    /// Pages of a `pageOffset` listing, starting at `params`' offset (blocking iterator).
    pub fn offset_pages_blocking<O: OffsetPaged>(&self, params: O::Params, body: O::Request) -> OffsetPages<'_, T, O> {
        OffsetPages { client: self, params, body, done: false }
    }

    /// Async pager over a continuation-token listing.
    pub fn pages<O: ContinuationPaged>(&self, params: O::Params, body: O::Request) -> Pager<'_, T, O> {
        Pager { client: self, params, body, done: false }
    }

    /// Async pager over a `pageOffset` listing.
    pub fn offset_pages<O: OffsetPaged>(&self, params: O::Params, body: O::Request) -> OffsetPager<'_, T, O> {
        OffsetPager { client: self, params, body, done: false }
    }
}
