//! An in-memory Kubernetes API server that kube's real `Client` talks to in-process.
//!
//! No API server can run on the build machines, so Kubernetes glue is tested through
//! `kube::Client::new(ApiServer, "default")`: every request goes through kube's own URL
//! building, serialization, error mapping and watch decoding, and lands here in a real store.
//!
//! Generic over resources: any `/api/v1/...` or `/apis/GROUP/VERSION/...` path, namespaced
//! or cluster-scoped, is a collection of JSON objects. Supported: create, get, list
//! (label and field selectors, `limit`/`continue`), watch (from a resourceVersion, synthetic
//! ADDED for `0`/unset, BOOKMARKs, streaming lists with `sendInitialEvents`), replace
//! (resourceVersion conflicts), patch (merge, strategic-as-merge, JSON patch, server-side
//! apply as merge), delete (finalizers, preconditions), delete-collection and the `/status`
//! subresource. Faults: whole-server outage (503 or hang) and per-request injected errors.
//!
//! Limits (deliberate): no version conversion (each group/version/resource is its own
//! store), no schema validation or defaulting, strategic merge and apply are plain merge
//! patches (lists replaced, no field ownership conflicts), namespaces need not exist, no
//! admission, no managedFields, no garbage collection, history is never compacted (so no
//! 410 Gone unless a test asks for it with `compact`).
#![allow(dead_code)] // each test binary uses a different part of it

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};

pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// One API verb, as Kubernetes' audit log and RBAC name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn is_write(self) -> bool {
        !matches!(self, Verb::Get | Verb::List | Verb::Watch)
    }
}

/// What one request asked for (recorded before it is answered, faults included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The name given to `client_as`, if the request came through such a client.
    pub client: Option<String>,
    pub verb: Verb,
    /// `group/version/resource`, `v1/services` for the core group.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// A patch that created its object: RBAC checks `create` for it too, as a real API
    /// server does for a server-side apply of an object that does not exist.
    pub created: bool,
    /// When the request was served (a server-wide sequence number), if it was: a request
    /// its client gave up on while it hung is never served.
    pub served: Option<u64>,
}

/// How the whole server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Up,
    /// Every request gets 503 and open watches are cut.
    Unavailable,
    /// Every request waits until the server is `Up` again (open watches are cut).
    Hang,
}

/// An injected failure: the next `times` requests matching every field that is set get
/// `code`. `client` matches the name given to `client_as` (a network partition of one
/// process: `times: usize::MAX` until `clear_faults`).
#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub client: Option<String>,
    pub verb: Option<Verb>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    /// The object's name (one object refused while its neighbours are taken).
    pub name: Option<String>,
    pub code: u16,
    pub times: usize,
    /// Instead of answering `code`, hold the request until `clear_faults`, then serve it
    /// (a request stuck in a slow network or API server, not refused).
    pub hang: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ResKey {
    group: String,
    version: String,
    resource: String,
}

impl ResKey {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    fn display(&self) -> String {
        format!("{}/{}", self.api_version(), self.resource)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ObjKey {
    namespace: String,
    name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeType {
    Added,
    Modified,
    Deleted,
}

struct Change {
    rv: u64,
    res: ResKey,
    kind: ChangeType,
    old: Option<Value>,
    new: Value,
}

struct WatchSub {
    res: ResKey,
    namespace: Option<String>,
    filter: Filter,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    rv: u64,
    uids: u64,
    /// History before this resourceVersion is gone (410 for older watches).
    compacted_before: u64,
    objects: BTreeMap<ResKey, BTreeMap<ObjKey, Value>>,
    kinds: BTreeMap<ResKey, String>,
    history: Vec<Change>,
    watches: Vec<WatchSub>,
    requests: Vec<RequestRecord>,
    faults: Vec<Fault>,
    /// Requests served so far (see `RequestRecord::served`).
    served: u64,
}

struct Inner {
    state: Mutex<State>,
    availability: watch::Sender<Availability>,
    /// Bumped by `clear_faults`: releases hung requests.
    faults_cleared: watch::Sender<u64>,
    bookmark_interval: Mutex<Duration>,
}

/// The stand-in server. Cheap to clone; every clone (and every `Client` made from it)
/// shares one store.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
    /// Tags this handle's requests in the log (see `client_as`).
    who: Option<Arc<str>>,
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiServer {
    pub fn new() -> Self {
        let (availability, _) = watch::channel(Availability::Up);
        ApiServer {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                availability,
                faults_cleared: watch::channel(0).0,
                bookmark_interval: Mutex::new(Duration::from_secs(60)),
            }),
            who: None,
        }
    }

    /// A kube client whose every request is served by this store.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// A client whose requests are logged under `who`, to tell two controllers apart.
    pub fn client_as(&self, who: &str) -> kube::Client {
        let tagged = ApiServer {
            inner: self.inner.clone(),
            who: Some(Arc::from(who)),
        };
        kube::Client::new(tagged, "default")
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().expect("apiserver state poisoned")
    }

    /// How often open watches that asked for bookmarks get one (60 s, like a real server).
    pub fn set_bookmark_interval(&self, every: Duration) {
        *self.inner.bookmark_interval.lock().unwrap() = every;
    }

    pub fn set_availability(&self, a: Availability) {
        if a != Availability::Up {
            // A broken connection ends every open watch.
            self.state().watches.clear();
        }
        self.inner.availability.send_replace(a);
    }

    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
        self.inner.faults_cleared.send_modify(|n| *n += 1);
    }

    /// Forget watch history up to now: a watch from an older resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut st = self.state();
        st.compacted_before = st.rv + 1;
        st.history.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    /// Requests so far, counted per verb.
    pub fn counts(&self) -> BTreeMap<Verb, usize> {
        let mut out = BTreeMap::new();
        for r in self.state().requests.iter() {
            *out.entry(r.verb).or_default() += 1;
        }
        out
    }

    /// Write requests (create, update, patch, delete) so far, leaving out the given plural
    /// resource names (e.g. `leases`, renewed all the time by design).
    pub fn writes_excluding(&self, resources: &[&str]) -> Vec<RequestRecord> {
        self.state()
            .requests
            .iter()
            .filter(|r| r.verb.is_write())
            .filter(|r| {
                let plural = r.resource.rsplit('/').next().unwrap_or_default();
                !resources.contains(&plural)
            })
            .cloned()
            .collect()
    }

    pub fn resource_version(&self) -> u64 {
        self.state().rv
    }

    /// Store an object as it is, status included, without a request (test setup).
    pub fn seed<K>(&self, obj: &K)
    where
        K: Resource<DynamicType = ()> + serde::Serialize,
    {
        let ns = obj.meta().namespace.clone();
        let path = K::url_path(&(), ns.as_deref());
        let target = parse_path(&path).expect("resource path parses");
        let value = serde_json::to_value(obj).expect("object serializes");
        let mut st = self.state();
        let name = obj.meta().name.clone().expect("seeded objects have names");
        let key = ObjKey {
            namespace: ns.unwrap_or_default(),
            name,
        };
        st.insert_new(&target.res, key, value)
            .expect("seeded object is new");
    }

    /// Store raw JSON as an object of type `K` (what a typed client could not create:
    /// objects the CRD allows but the Rust type does not, e.g. without `spec`).
    pub fn seed_raw<K>(&self, value: serde_json::Value)
    where
        K: Resource<DynamicType = ()>,
    {
        let ns = value["metadata"]["namespace"].as_str().map(str::to_string);
        let name = value["metadata"]["name"]
            .as_str()
            .expect("seeded objects have names")
            .to_string();
        let path = K::url_path(&(), ns.as_deref());
        let target = parse_path(&path).expect("resource path parses");
        let key = ObjKey {
            namespace: ns.unwrap_or_default(),
            name,
        };
        self.state()
            .insert_new(&target.res, key, value)
            .expect("seeded object is new");
    }

    /// Read an object without a request (test assertions).
    pub fn object<K>(&self, namespace: Option<&str>, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + serde::de::DeserializeOwned,
    {
        let path = K::url_path(&(), namespace);
        let target = parse_path(&path).expect("resource path parses");
        let st = self.state();
        let v = st.objects.get(&target.res)?.get(&ObjKey {
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        })?;
        Some(serde_json::from_value(v.clone()).expect("stored object deserializes"))
    }

    /// An object as stored, untyped (for objects the Rust type cannot read).
    pub fn object_raw<K>(&self, namespace: Option<&str>, name: &str) -> Option<serde_json::Value>
    where
        K: Resource<DynamicType = ()>,
    {
        let path = K::url_path(&(), namespace);
        let target = parse_path(&path).expect("resource path parses");
        let st = self.state();
        st.objects
            .get(&target.res)?
            .get(&ObjKey {
                namespace: namespace.unwrap_or_default().to_string(),
                name: name.to_string(),
            })
            .cloned()
    }

    /// Every stored object of one type (all namespaces), sorted by namespace and name.
    pub fn objects<K>(&self) -> Vec<K>
    where
        K: Resource<DynamicType = ()> + serde::de::DeserializeOwned,
    {
        let path = K::url_path(&(), None);
        let target = parse_path(&path).expect("resource path parses");
        let st = self.state();
        st.objects
            .get(&target.res)
            .map(|m| {
                m.values()
                    .map(|v| serde_json::from_value(v.clone()).expect("stored object"))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn handle(self, req: Request<kube::client::Body>) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        let target = match parse_path(parts.uri.path()) {
            Some(t) => t,
            None => return status_response(404, "NotFound", "no such path", None),
        };
        let query: BTreeMap<String, String> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let verb = match (&parts.method, target.name.is_some()) {
            (&Method::GET, false) if query.get("watch").is_some_and(|w| w == "true") => Verb::Watch,
            (&Method::GET, false) => Verb::List,
            (&Method::GET, true) => Verb::Get,
            (&Method::POST, false) => Verb::Create,
            (&Method::PUT, true) => Verb::Update,
            (&Method::PATCH, true) => Verb::Patch,
            (&Method::DELETE, true) => Verb::Delete,
            (&Method::DELETE, false) => Verb::DeleteCollection,
            _ => return status_response(405, "MethodNotAllowed", "method not allowed", None),
        };
        let record = {
            let mut st = self.state();
            st.requests.push(RequestRecord {
                client: self.who.as_deref().map(str::to_string),
                verb,
                resource: target.res.display(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                subresource: target.sub.clone(),
                created: false,
                served: None,
            });
            st.requests.len() - 1
        };

        // Outages first: a hung request waits for the server to come back.
        let mut avail = self.inner.availability.subscribe();
        loop {
            let now = *avail.borrow_and_update();
            match now {
                Availability::Up => break,
                Availability::Unavailable => {
                    return status_response(
                        503,
                        "ServiceUnavailable",
                        "the server is currently unable to handle the request",
                        None,
                    )
                }
                Availability::Hang => {
                    if avail.changed().await.is_err() {
                        return status_response(503, "ServiceUnavailable", "gone", None);
                    }
                }
            }
        }
        match self.take_fault(verb, &target, self.who.as_deref()) {
            Some((_, true)) => {
                let mut cleared = self.inner.faults_cleared.subscribe();
                let _ = cleared.changed().await;
            }
            Some((code, false)) => {
                return status_response(code, reason_for(code), "injected fault", None)
            }
            None => {}
        }

        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return status_response(400, "BadRequest", &e.to_string(), None),
        };
        let dry_run = query.get("dryRun").is_some_and(|d| d == "All");

        let result = match verb {
            Verb::Watch => return self.watch(&target, &query),
            Verb::List => self.state().list(&target, &query),
            Verb::Get => self.state().get(&target),
            Verb::Create => self.state().create(&target, &body, dry_run),
            Verb::Update => self.state().update(&target, &body, dry_run),
            Verb::Patch => self
                .state()
                .patch(&target, &body, &content_type, &query, dry_run),
            Verb::Delete => self.state().delete(&target, &body, dry_run),
            Verb::DeleteCollection => self.state().delete_collection(&target, &query),
        };
        {
            let mut st = self.state();
            st.served += 1;
            let seq = st.served;
            if let Some(r) = st.requests.get_mut(record) {
                r.served = Some(seq);
            }
        }
        match result {
            Ok((code, value)) => {
                if verb == Verb::Patch && code == 201 {
                    if let Some(r) = self.state().requests.get_mut(record) {
                        r.created = true;
                    }
                }
                json_response(code, &value)
            }
            Err(e) => e.into_response(),
        }
    }

    /// The matching fault's (code, hang), consumed once.
    fn take_fault(&self, verb: Verb, target: &Target, who: Option<&str>) -> Option<(u16, bool)> {
        let mut st = self.state();
        let idx = st.faults.iter().position(|f| {
            f.times > 0
                && f.client.as_deref().is_none_or(|c| Some(c) == who)
                && f.verb.is_none_or(|v| v == verb)
                && f.resource
                    .as_ref()
                    .is_none_or(|r| *r == target.res.resource)
                && f.subresource
                    .as_ref()
                    .is_none_or(|s| Some(s) == target.sub.as_ref())
                && f.name
                    .as_ref()
                    .is_none_or(|n| Some(n) == target.name.as_ref())
        })?;
        let fault = &mut st.faults[idx];
        fault.times -= 1;
        let found = (fault.code, fault.hang);
        if fault.times == 0 {
            st.faults.remove(idx);
        }
        Some(found)
    }

    fn watch(&self, target: &Target, query: &BTreeMap<String, String>) -> Response<ResponseBody> {
        let filter = match Filter::from_query(query) {
            Ok(f) => f,
            Err(e) => return e.into_response(),
        };
        let bookmarks = query
            .get("allowWatchBookmarks")
            .is_some_and(|b| b == "true");
        let initial_events = query.get("sendInitialEvents").is_some_and(|b| b == "true");
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs);
        let from = query.get("resourceVersion").cloned().unwrap_or_default();

        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut st = self.state();
            let kind = st.kind_of(&target.res);
            let api_version = target.res.api_version();
            let bookmark = |rv: u64, initial_end: bool| {
                let mut meta = json!({ "resourceVersion": rv.to_string() });
                if initial_end {
                    meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
                }
                line(&json!({
                    "type": "BOOKMARK",
                    "object": { "apiVersion": api_version, "kind": kind, "metadata": meta },
                }))
            };
            if initial_events || from.is_empty() || from == "0" {
                // Synthetic ADDED for the current state, as for an unset/"0" version.
                if let Some(objs) = st.objects.get(&target.res) {
                    for (key, obj) in objs {
                        if target
                            .namespace
                            .as_ref()
                            .is_none_or(|n| *n == key.namespace)
                            && filter.matches(obj)
                        {
                            let _ = tx.send(line(&json!({ "type": "ADDED", "object": obj })));
                        }
                    }
                }
                if initial_events {
                    let _ = tx.send(bookmark(st.rv, true));
                }
            } else {
                let Ok(from_rv) = from.parse::<u64>() else {
                    return ApiError::bad_request(format!("invalid resourceVersion {from:?}"))
                        .into_response();
                };
                if from_rv + 1 < st.compacted_before {
                    let status = status_value(
                        410,
                        "Expired",
                        &format!("too old resource version: {from_rv} ({})", st.rv),
                        None,
                    );
                    // A real server answers 200 and sends the Status as an ERROR event.
                    let _ = tx.send(line(&json!({ "type": "ERROR", "object": status })));
                    drop(tx);
                    return stream_response(rx, None, None, self.clone());
                }
                for change in st.history.iter().filter(|c| c.rv > from_rv) {
                    if change.res == target.res {
                        if let Some(ev) = watch_event(change, target.namespace.as_deref(), &filter)
                        {
                            let _ = tx.send(ev);
                        }
                    }
                }
            }
            if bookmarks && !initial_events {
                let _ = tx.send(bookmark(st.rv, false));
            }
            st.watches.push(WatchSub {
                res: target.res.clone(),
                namespace: target.namespace.clone(),
                filter,
                tx,
            });
        }
        let bookmark_every = bookmarks.then(|| *self.inner.bookmark_interval.lock().unwrap());
        stream_response(
            rx,
            bookmark_every.map(|d| (d, target.res.clone())),
            timeout,
            self.clone(),
        )
    }
}

impl tower::Service<Request<kube::client::Body>> for ApiServer {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}

/// The stream of one watch: queued events, bookmarks between them, and the end at
/// `timeoutSeconds`.
fn stream_response(
    rx: mpsc::UnboundedReceiver<Bytes>,
    bookmarks: Option<(Duration, ResKey)>,
    timeout: Option<Duration>,
    server: ApiServer,
) -> Response<ResponseBody> {
    struct S {
        rx: mpsc::UnboundedReceiver<Bytes>,
        bookmarks: Option<(tokio::time::Interval, ResKey)>,
        deadline: Option<tokio::time::Instant>,
        server: ApiServer,
    }
    let state = S {
        rx,
        bookmarks: bookmarks.map(|(every, res)| {
            let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (iv, res)
        }),
        deadline: timeout.map(|t| tokio::time::Instant::now() + t),
        server,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            let deadline = async {
                match s.deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let tick = async {
                match s.bookmarks.as_mut() {
                    Some((iv, _)) => {
                        iv.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                msg = s.rx.recv() => {
                    let bytes = msg?;
                    return Some((Ok::<_, Infallible>(http_body::Frame::data(bytes)), s));
                }
                _ = deadline => return None,
                _ = tick => {
                    let (_, res) = s.bookmarks.as_ref().expect("ticking means bookmarks");
                    let st = s.server.state();
                    // Senders only push under this lock: an empty queue now means every
                    // change up to `rv` was already sent, so the bookmark is truthful.
                    if s.rx.is_empty() {
                        let ev = json!({
                            "type": "BOOKMARK",
                            "object": {
                                "apiVersion": res.api_version(),
                                "kind": st.kind_of(res),
                                "metadata": { "resourceVersion": st.rv.to_string() },
                            },
                        });
                        drop(st);
                        return Some((Ok(http_body::Frame::data(line(&ev))), s));
                    }
                }
            }
        }
    });
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
        .expect("response builds")
}

fn line(v: &Value) -> Bytes {
    let mut s = serde_json::to_vec(v).expect("json serializes");
    s.push(b'\n');
    Bytes::from(s)
}

/// The watch event one change produces for one watcher, if any. Label changes that move an
/// object into or out of the selection become ADDED / DELETED, as on a real server.
fn watch_event(change: &Change, namespace: Option<&str>, filter: &Filter) -> Option<Bytes> {
    if let Some(ns) = namespace {
        if meta_str(&change.new, "namespace").unwrap_or_default() != ns {
            return None;
        }
    }
    let now = filter.matches(&change.new);
    let before = change.old.as_ref().is_some_and(|o| filter.matches(o));
    let ty = match change.kind {
        ChangeType::Added if now => "ADDED",
        ChangeType::Deleted if now => "DELETED",
        ChangeType::Modified if now && before => "MODIFIED",
        ChangeType::Modified if now => "ADDED",
        ChangeType::Modified if before => "DELETED",
        _ => return None,
    };
    Some(line(&json!({ "type": ty, "object": change.new })))
}

struct Target {
    res: ResKey,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    match rest {
        // `namespaces/NAME` and `namespaces/NAME/status` are the Namespace object itself.
        ["namespaces", ns, res, tail @ ..] if *res != "status" && *res != "finalize" => {
            build_target(group, version, Some(ns.to_string()), res, tail)
        }
        [res, tail @ ..] => build_target(group, version, None, res, tail),
        [] => None,
    }
}

fn build_target(
    group: &str,
    version: &str,
    namespace: Option<String>,
    resource: &str,
    tail: &[&str],
) -> Option<Target> {
    if resource.is_empty() || tail.len() > 2 {
        return None;
    }
    Some(Target {
        res: ResKey {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
        },
        namespace,
        name: tail.first().map(|s| s.to_string()),
        sub: tail.get(1).map(|s| s.to_string()),
    })
}

/// An error a handler answers with, as a `Status` object.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, message: String) -> Self {
        ApiError {
            code,
            reason: reason_for(code),
            message,
            details: None,
        }
    }
    fn bad_request(message: String) -> Self {
        Self::new(400, message)
    }
    fn not_found(res: &ResKey, name: &str) -> Self {
        ApiError {
            details: Some(json!({ "name": name, "kind": res.resource })),
            ..Self::new(404, format!("{} \"{name}\" not found", res.resource))
        }
    }
    fn conflict(res: &ResKey, name: &str) -> Self {
        ApiError {
            details: Some(json!({ "name": name, "kind": res.resource })),
            ..Self::new(
                409,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been \
                     modified; please apply your changes to the latest version and try again",
                    res.resource
                ),
            )
        }
    }
    fn into_response(self) -> Response<ResponseBody> {
        status_response(self.code, self.reason, &self.message, self.details)
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

fn status_value(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

fn status_response(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<ResponseBody> {
    json_response(code, &status_value(code, reason, message, details))
}

fn json_response(code: u16, v: &Value) -> Response<ResponseBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).expect("valid status code"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed_unsync(Full::new(Bytes::from(
            serde_json::to_vec(v).expect("json serializes"),
        ))))
        .expect("response builds")
}

type Handled = Result<(u16, Value), ApiError>;

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn now_time() -> Value {
    serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).expect("time serializes")
}

/// Everything but metadata and status: a change here bumps metadata.generation.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn guess_kind(resource: &str) -> String {
    let known = [
        ("services", "Service"),
        ("namespaces", "Namespace"),
        ("nodes", "Node"),
        ("pods", "Pod"),
        ("endpoints", "Endpoints"),
        ("endpointslices", "EndpointSlice"),
        ("events", "Event"),
        ("configmaps", "ConfigMap"),
        ("secrets", "Secret"),
        ("leases", "Lease"),
        ("ipaddresspools", "IPAddressPool"),
        ("bgppeers", "BGPPeer"),
        ("bgpadvertisements", "BGPAdvertisement"),
        ("bfdprofiles", "BFDProfile"),
        ("communities", "Community"),
    ];
    if let Some((_, k)) = known.iter().find(|(r, _)| *r == resource) {
        return k.to_string();
    }
    let singular = resource.strip_suffix('s').unwrap_or(resource);
    let mut c = singular.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl State {
    fn kind_of(&self, res: &ResKey) -> String {
        self.kinds
            .get(res)
            .cloned()
            .unwrap_or_else(|| guess_kind(&res.resource))
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Record a change and hand it to every open watch.
    fn publish(&mut self, res: &ResKey, kind: ChangeType, old: Option<Value>, new: Value) {
        let change = Change {
            rv: self.rv,
            res: res.clone(),
            kind,
            old,
            new,
        };
        self.watches.retain(|w| {
            if w.res != change.res {
                return !w.tx.is_closed();
            }
            match watch_event(&change, w.namespace.as_deref(), &w.filter) {
                Some(ev) => w.tx.send(ev).is_ok(),
                None => !w.tx.is_closed(),
            }
        });
        self.history.push(change);
    }

    fn objects_of(&mut self, res: &ResKey) -> &mut BTreeMap<ObjKey, Value> {
        self.objects.entry(res.clone()).or_default()
    }

    /// Store a new object with server-set metadata; the caller checked it is absent.
    fn insert_new(&mut self, res: &ResKey, key: ObjKey, mut obj: Value) -> Result<Value, ApiError> {
        if self.objects_of(res).contains_key(&key) {
            return Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{} \"{}\" already exists", res.resource, key.name),
                details: Some(json!({ "name": key.name, "kind": res.resource })),
            });
        }
        if let Some(labels) = obj["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                let v = v.as_str().unwrap_or_default();
                if !valid_label_value(v) {
                    return Err(ApiError::new(
                        422,
                        format!("metadata.labels: Invalid value: {v:?}: a valid label must be an empty string or consist of at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character (key {k})"),
                    ));
                }
            }
        }
        let rv = self.next_rv();
        self.uids += 1;
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.uids);
        let kind = self.kind_of(res);
        let o = obj
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the body must be a JSON object".to_string()))?;
        o.entry("apiVersion")
            .or_insert_with(|| Value::String(res.api_version()));
        o.entry("kind").or_insert_with(|| Value::String(kind));
        if let Some(k) = o.get("kind").and_then(Value::as_str) {
            self.kinds.insert(res.clone(), k.to_string());
        }
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("metadata checked by caller");
        meta.insert("name".into(), Value::String(key.name.clone()));
        if key.namespace.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".into(), Value::String(key.namespace.clone()));
        }
        meta.insert("uid".into(), Value::String(uid));
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        meta.insert("creationTimestamp".into(), now_time());
        meta.insert("generation".into(), json!(1));
        meta.remove("deletionTimestamp");
        self.objects_of(res).insert(key, obj.clone());
        self.publish(res, ChangeType::Added, None, obj.clone());
        Ok(obj)
    }

    /// Replace a stored object (server fields kept, resourceVersion bumped, generation
    /// bumped on spec change). Removing the last finalizer of a deleting object deletes it.
    fn commit_update(&mut self, res: &ResKey, key: &ObjKey, mut obj: Value) -> Value {
        let old = self.objects_of(res)[key].clone();
        if obj == old {
            // A no-op write changes nothing and notifies nobody, as on a real server.
            return old;
        }
        let rv = self.next_rv();
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            match old["metadata"].get(field) {
                Some(v) => obj["metadata"][field] = v.clone(),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        obj["metadata"]["name"] = Value::String(key.name.clone());
        if !key.namespace.is_empty() {
            obj["metadata"]["namespace"] = Value::String(key.namespace.clone());
        }
        if spec_part(&obj) != spec_part(&old) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            obj["metadata"]["generation"] = json!(generation);
        }
        obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let deleting = old["metadata"].get("deletionTimestamp").is_some();
        let no_finalizers = obj["metadata"]
            .get("finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        if deleting && no_finalizers {
            self.objects_of(res).remove(key);
            self.publish(res, ChangeType::Deleted, Some(old), obj.clone());
        } else {
            self.objects_of(res).insert(key.clone(), obj.clone());
            self.publish(res, ChangeType::Modified, Some(old), obj.clone());
        }
        obj
    }

    fn key_for(&self, target: &Target) -> ObjKey {
        ObjKey {
            namespace: target.namespace.clone().unwrap_or_default(),
            name: target.name.clone().unwrap_or_default(),
        }
    }

    fn current(&mut self, target: &Target) -> Result<(ObjKey, Value), ApiError> {
        let key = self.key_for(target);
        let obj = self
            .objects_of(&target.res)
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&target.res, &key.name))?;
        Ok((key, obj))
    }

    fn get(&mut self, target: &Target) -> Handled {
        let (_, obj) = self.current(target)?;
        Ok((200, obj))
    }

    fn list(&mut self, target: &Target, query: &BTreeMap<String, String>) -> Handled {
        let filter = Filter::from_query(query)?;
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        // The continue token is `rv/namespace/name` of the last item sent.
        let (list_rv, after) = match query.get("continue").filter(|c| !c.is_empty()) {
            Some(token) => {
                let mut parts = token.splitn(3, '/');
                let rv = parts.next().and_then(|r| r.parse::<u64>().ok());
                let ns = parts.next();
                let name = parts.next();
                match (rv, ns, name) {
                    (Some(rv), Some(ns), Some(name)) => (
                        rv,
                        Some(ObjKey {
                            namespace: ns.to_string(),
                            name: name.to_string(),
                        }),
                    ),
                    _ => return Err(ApiError::bad_request("invalid continue token".into())),
                }
            }
            None => (self.rv, None),
        };
        let mut items = Vec::new();
        let mut more = None;
        let objs = self.objects_of(&target.res).clone();
        for (key, obj) in objs.iter() {
            if after.as_ref().is_some_and(|a| key <= a) {
                continue;
            }
            if target
                .namespace
                .as_ref()
                .is_some_and(|n| *n != key.namespace)
            {
                continue;
            }
            if !filter.matches(obj) {
                continue;
            }
            if limit.is_some_and(|l| items.len() == l) {
                let last: &ObjKey = items
                    .last()
                    .map(|(k, _): &(ObjKey, Value)| k)
                    .expect("limit > 0");
                more = Some(format!("{list_rv}/{}/{}", last.namespace, last.name));
                break;
            }
            items.push((key.clone(), obj.clone()));
        }
        let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
        if let Some(c) = more {
            metadata["continue"] = Value::String(c);
        }
        Ok((
            200,
            json!({
                "apiVersion": target.res.api_version(),
                "kind": format!("{}List", self.kind_of(&target.res)),
                "metadata": metadata,
                "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            }),
        ))
    }

    fn create(&mut self, target: &Target, body: &[u8], dry_run: bool) -> Handled {
        if target.sub.is_some() || target.name.is_some() {
            return Err(ApiError::new(405, "create goes to a collection".into()));
        }
        let mut obj: Value = parse_body(body)?;
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let mut name = meta_str(&obj, "name").unwrap_or_default().to_string();
        if name.is_empty() {
            let Some(prefix) = meta_str(&obj, "generateName") else {
                return Err(ApiError::new(
                    422,
                    "metadata.name: Required value: name or generateName is required".into(),
                ));
            };
            name = format!("{prefix}{:05x}", (self.uids + 1) * 7919 % 0xfffff);
        }
        let namespace = target.namespace.clone().unwrap_or_default();
        if let Some(ns) = meta_str(&obj, "namespace") {
            if !ns.is_empty() && ns != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request"
                        .into(),
                ));
            }
        }
        // Status is written only through the /status subresource.
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
        let key = ObjKey { namespace, name };
        if dry_run {
            return Ok((201, obj));
        }
        let stored = self.insert_new(&target.res, key, obj)?;
        Ok((201, stored))
    }

    fn update(&mut self, target: &Target, body: &[u8], dry_run: bool) -> Handled {
        let (key, current) = self.current(target)?;
        let incoming: Value = parse_body(body)?;
        if meta_str(&incoming, "name").is_some_and(|n| n != key.name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL".into(),
            ));
        }
        let rv = meta_str(&incoming, "resourceVersion").unwrap_or_default();
        if !rv.is_empty() && rv != meta_str(&current, "resourceVersion").unwrap_or_default() {
            return Err(ApiError::conflict(&target.res, &key.name));
        }
        let next = self.apply_to(target, &current, incoming)?;
        if dry_run {
            return Ok((200, next));
        }
        Ok((200, self.commit_update(&target.res, &key, next)))
    }

    /// The object a write to `target` produces from `current`: the main resource keeps the
    /// stored status, `/status` changes nothing but status.
    fn apply_to(
        &self,
        target: &Target,
        current: &Value,
        mut next: Value,
    ) -> Result<Value, ApiError> {
        if !next.is_object() {
            return Err(ApiError::bad_request(
                "the body must be a JSON object".into(),
            ));
        }
        match target.sub.as_deref() {
            None => {
                match current.get("status") {
                    Some(s) => next["status"] = s.clone(),
                    None => {
                        next.as_object_mut().expect("object").remove("status");
                    }
                }
                if !next.get("metadata").is_some_and(Value::is_object) {
                    next["metadata"] = current["metadata"].clone();
                }
                Ok(next)
            }
            Some("status") => {
                let mut out = current.clone();
                match next.get("status") {
                    Some(s) if !s.is_null() => out["status"] = s.clone(),
                    _ => {
                        out.as_object_mut().expect("object").remove("status");
                    }
                }
                Ok(out)
            }
            Some(other) => Err(ApiError::not_found(&target.res, other)),
        }
    }

    fn patch(
        &mut self,
        target: &Target,
        body: &[u8],
        content_type: &str,
        query: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Handled {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let apply = media == "application/apply-patch+yaml";
        if apply && query.get("fieldManager").is_none_or(|f| f.is_empty()) {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is \
                 required for apply patch"
                    .into(),
            ));
        }
        let existing = self.current(target);
        let (key, current, creating) = match existing {
            Ok((k, v)) => (k, v, false),
            // Server-side apply creates what is missing.
            Err(e) if apply && e.code == 404 && target.sub.is_none() => {
                let key = self.key_for(target);
                let mut meta = json!({ "name": key.name });
                if !key.namespace.is_empty() {
                    meta["namespace"] = Value::String(key.namespace.clone());
                }
                (key, json!({ "metadata": meta }), true)
            }
            Err(e) => return Err(e),
        };
        let mut patched = current.clone();
        match media {
            "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/apply-patch+yaml" => {
                let p: Value = if apply {
                    serde_json::from_slice(body)
                        .or_else(|_| serde_yaml::from_slice(body))
                        .map_err(|e| ApiError::bad_request(format!("invalid apply body: {e}")))?
                } else {
                    parse_body(body)?
                };
                if !p.is_object() {
                    return Err(ApiError::bad_request(
                        "a merge patch must be an object".into(),
                    ));
                }
                let want_rv = p
                    .get("metadata")
                    .and_then(|m| m.get("resourceVersion"))
                    .and_then(Value::as_str);
                if want_rv.is_some_and(|rv| Some(rv) != meta_str(&current, "resourceVersion")) {
                    return Err(ApiError::conflict(&target.res, &key.name));
                }
                json_patch::merge(&mut patched, &p);
            }
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut patched, &ops)
                    .map_err(|e| ApiError::new(422, format!("the JSON patch failed: {e}")))?;
            }
            other => {
                return Err(ApiError::new(
                    415,
                    format!("the body of the request was in an unknown format: {other}"),
                ))
            }
        }
        if creating {
            if dry_run {
                return Ok((201, patched));
            }
            if let Some(m) = patched.as_object_mut() {
                m.remove("status");
            }
            let stored = self.insert_new(&target.res, key, patched)?;
            return Ok((201, stored));
        }
        let next = self.apply_to(target, &current, patched)?;
        if dry_run {
            return Ok((200, next));
        }
        Ok((200, self.commit_update(&target.res, &key, next)))
    }

    fn delete(&mut self, target: &Target, body: &[u8], dry_run: bool) -> Handled {
        if target.sub.is_some() {
            return Err(ApiError::new(405, "cannot delete a subresource".into()));
        }
        let (key, current) = self.current(target)?;
        if !body.is_empty() {
            let opts: Value = parse_body(body)?;
            if let Some(pre) = opts.get("preconditions") {
                let rv_ok = pre
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                    .is_none_or(|rv| Some(rv) == meta_str(&current, "resourceVersion"));
                let uid_ok = pre
                    .get("uid")
                    .and_then(Value::as_str)
                    .is_none_or(|uid| Some(uid) == meta_str(&current, "uid"));
                if !rv_ok || !uid_ok {
                    return Err(ApiError::conflict(&target.res, &key.name));
                }
            }
        }
        if dry_run {
            return Ok((200, current));
        }
        Ok(self.delete_key(&target.res, &key, current))
    }

    fn delete_key(&mut self, res: &ResKey, key: &ObjKey, current: Value) -> (u16, Value) {
        let has_finalizers = current["metadata"]
            .get("finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if current["metadata"].get("deletionTimestamp").is_some() {
                return (202, current);
            }
            let rv = self.next_rv();
            let mut next = current.clone();
            next["metadata"]["deletionTimestamp"] = now_time();
            next["metadata"]["resourceVersion"] = Value::String(rv.to_string());
            self.objects_of(res).insert(key.clone(), next.clone());
            self.publish(res, ChangeType::Modified, Some(current), next.clone());
            return (202, next);
        }
        let rv = self.next_rv();
        let mut gone = current.clone();
        gone["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        self.objects_of(res).remove(key);
        let uid = meta_str(&current, "uid").map(str::to_string);
        self.publish(res, ChangeType::Deleted, Some(current), gone.clone());
        if let Some(uid) = uid {
            self.collect_garbage(&uid);
        }
        (200, gone)
    }

    /// What Kubernetes' garbage collector does once an owner is gone: deletes every object
    /// whose ownerReferences name it (here at once; a real cluster takes a moment).
    fn collect_garbage(&mut self, owner_uid: &str) {
        let doomed: Vec<(ResKey, ObjKey, Value)> = self
            .objects
            .iter()
            .flat_map(|(res, objs)| {
                objs.iter()
                    .map(move |(k, v)| (res.clone(), k.clone(), v.clone()))
            })
            .filter(|(_, _, v)| {
                v["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
            })
            .collect();
        for (res, key, v) in doomed {
            self.delete_key(&res, &key, v);
        }
    }

    fn delete_collection(&mut self, target: &Target, query: &BTreeMap<String, String>) -> Handled {
        let filter = Filter::from_query(query)?;
        let doomed: Vec<(ObjKey, Value)> = self
            .objects_of(&target.res)
            .iter()
            .filter(|(k, v)| {
                target.namespace.as_ref().is_none_or(|n| *n == k.namespace) && filter.matches(v)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut items = Vec::new();
        for (k, v) in doomed {
            items.push(self.delete_key(&target.res, &k, v).1);
        }
        Ok((
            200,
            json!({
                "apiVersion": target.res.api_version(),
                "kind": format!("{}List", self.kind_of(&target.res)),
                "metadata": { "resourceVersion": self.rv.to_string() },
                "items": items,
            }),
        ))
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Label and field selectors of a list or watch.
#[derive(Clone, Debug, Default)]
struct Filter {
    labels: Vec<LabelReq>,
    fields: Vec<(String, bool, String)>,
}

#[derive(Clone, Debug)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Filter {
    fn from_query(query: &BTreeMap<String, String>) -> Result<Filter, ApiError> {
        let labels = match query.get("labelSelector") {
            Some(s) => parse_label_selector(s).map_err(ApiError::bad_request)?,
            None => Vec::new(),
        };
        let mut fields = Vec::new();
        if let Some(s) = query.get("fieldSelector") {
            for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let (path, eq, value) = if let Some((p, v)) = term.split_once("!=") {
                    (p, false, v)
                } else if let Some((p, v)) = term.split_once("==") {
                    (p, true, v)
                } else if let Some((p, v)) = term.split_once('=') {
                    (p, true, v)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid field selector {term:?}"
                    )));
                };
                fields.push((path.trim().to_string(), eq, value.trim().to_string()));
            }
        }
        Ok(Filter { labels, fields })
    }

    fn matches(&self, obj: &Value) -> bool {
        let empty = Map::new();
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let label = |k: &str| labels.get(k).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|r| match r {
            LabelReq::Eq(k, v) => label(k) == Some(v),
            LabelReq::Ne(k, v) => label(k) != Some(v),
            LabelReq::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
        });
        let fields_ok = self.fields.iter().all(|(path, eq, want)| {
            let mut v = obj;
            for part in path.split('.') {
                v = match v.get(part) {
                    Some(x) => x,
                    None => return !eq && !want.is_empty(),
                };
            }
            let got = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (got == *want) == *eq
        });
        labels_ok && fields_ok
    }
}

/// A real API server's rule for label values (and the values in label selectors).
fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>, String> {
    // Split on commas outside parentheses.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    let set = |rest: &str| -> Result<Vec<String>, String> {
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("invalid set in label selector {s:?}"))?;
        Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
    };
    let mut out = Vec::new();
    for term in terms.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
        let req = if let Some(k) = term.strip_prefix('!') {
            LabelReq::NotExists(k.trim().to_string())
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            LabelReq::NotIn(k.trim().to_string(), set(rest)?)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            LabelReq::In(k.trim().to_string(), set(rest)?)
        } else if let Some((k, v)) = term.split_once("!=") {
            LabelReq::Ne(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = term.split_once("==") {
            LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = term.split_once('=') {
            LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
        } else if term
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./".contains(c))
        {
            LabelReq::Exists(term.to_string())
        } else {
            return Err(format!("invalid label selector {s:?}"));
        };
        let values: Vec<&String> = match &req {
            LabelReq::Eq(_, v) | LabelReq::Ne(_, v) => vec![v],
            LabelReq::In(_, vs) | LabelReq::NotIn(_, vs) => vs.iter().collect(),
            _ => vec![],
        };
        if let Some(bad) = values.into_iter().find(|v| !valid_label_value(v)) {
            return Err(format!(
                "unable to parse requirement: values[0]: Invalid value: {bad:?}: must be no more than 63 characters"
            ));
        }
        out.push(req);
    }
    Ok(out)
}
