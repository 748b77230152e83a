//! The ROI summary: one consistent snapshot of the store, rolled up under the chosen
//! model, for the API, the console, the files and the command line alike.

use super::{Service, off_the_workers};
use crate::error::{Error, Result};
use crate::roi::{self, DayRange, Report, RoiInput, RoiQuery};
use crate::store::Store;

/// A checked summary request: how to attribute and group, which days' data to read, and
/// whose.
#[derive(Debug, Clone, Copy)]
pub struct RoiRequest {
    pub query: RoiQuery,
    pub days: DayRange,
    pub scope: Scope,
}

/// Whose data a summary covers (`scope=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// This node's store (the default).
    #[default]
    Node,
    /// Every node's data in PostgreSQL (a replicating node only).
    All,
}

impl Scope {
    pub fn parse(text: Option<&str>) -> Result<Scope> {
        match text.map(str::trim) {
            None | Some("node") => Ok(Scope::Node),
            Some("all") => Ok(Scope::All),
            // 422 like every other query value that is not one of its choices.
            Some(_) => Err(Error::invalid(
                "scope",
                "invalid_scope",
                "scope must be node (this node's data, the default) or all (every node's, from PostgreSQL)",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Node => "node",
            Scope::All => "all",
        }
    }
}

impl RoiRequest {
    /// From `key=value` pairs (a query string, a console form), refusing keys that are
    /// neither the summary's nor in `extra` (which the caller handles, like `lang`).
    pub fn from_pairs(
        pairs: &[(String, String)],
        extra: &[&str],
        tz: &jiff::tz::TimeZone,
    ) -> Result<RoiRequest> {
        if let Some((key, _)) = pairs
            .iter()
            .find(|(k, _)| !roi::QUERY_KEYS.contains(&k.as_str()) && !extra.contains(&k.as_str()))
        {
            return Err(Error::invalid(
                key.clone(),
                "unknown_parameter",
                format!(
                    "{key:?} is not a parameter of the ROI summary; use {}",
                    roi::QUERY_KEYS.join(", ")
                ),
            ));
        }
        let get = |key: &str| {
            crate::submission::first_value(pairs, key)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        RoiRequest::parse(get, tz)
    }

    /// From each parameter's text, if set (the command line's flags).
    pub fn parse(
        get: impl Fn(&str) -> Option<String>,
        tz: &jiff::tz::TimeZone,
    ) -> Result<RoiRequest> {
        let scope = Scope::parse(get("scope").as_deref())?;
        let (query, days) = roi::parse_query(get, tz)?;
        Ok(RoiRequest { query, days, scope })
    }

    /// The window whose non-converting journeys the report needs: only Markov's chain
    /// reads them.
    fn markov_window(&self) -> Option<roi::Window> {
        (self.query.model == crate::attribution::Model::Markov).then_some(self.query.window)
    }
}

pub async fn build(service: &Service, request: RoiRequest) -> Result<Report> {
    Ok(build_with(service, request, |_| ()).await?.0)
}

/// `build`, also handing the snapshot to `also` on the same blocking thread (the console
/// counts leads by kind from it).
pub async fn build_with<T: Send + 'static>(
    service: &Service,
    request: RoiRequest,
    also: impl FnOnce(&RoiInput) -> T + Send + 'static,
) -> Result<(Report, T)> {
    let days = request.days;
    // The report shows the form views of the last second too (if the disk takes them:
    // a report is still worth reading when it does not).
    super::visits::flush_for_reading(service).await;
    super::leads::remind_for_reading(service).await;
    let input = match request.scope {
        Scope::Node => {
            service
                .store
                .roi_input(days.from, days.to, request.markov_window())
                .await?
        }
        Scope::All => {
            let Some(replica) = &service.replica else {
                return Err(Error::new(
                    crate::error::ErrorKind::Unavailable,
                    "not_configured",
                    "scope=all reports every node's data from PostgreSQL, and this node does \
                     not replicate: start it with --replicate postgres://…, or leave scope out \
                     for this node's own data",
                )
                .with_field("scope"));
            };
            replica.roi_input(days, request.markov_window()).await?
        }
    };
    // The roll-up is pure CPU over every conversion: keep it off the async workers.
    off_the_workers("ROI", move || {
        (roi::summarise(&input, &request.query), also(&input))
    })
    .await
}

/// `build` over every node's data in the PostgreSQL at `target` (`leadgate roi
/// --postgres`), with the reporting zone `tz`.
pub async fn build_from_postgres(
    target: &crate::replica::Target,
    request: RoiRequest,
    tz: &jiff::tz::TimeZone,
) -> Result<Report> {
    let (mut client, connection) = target
        .config()
        .connect(target.tls())
        .await
        .map_err(crate::replica::report::unreachable)?;
    let connection = tokio::spawn(connection);
    let input =
        crate::replica::report::roi_input(&mut client, request.days, tz, request.markov_window())
            .await;
    drop(client);
    let _ = connection.await;
    let input = input?;
    off_the_workers("ROI", move || roi::summarise(&input, &request.query)).await
}

/// `build` for a caller without a runtime (the command line on a stopped server's store).
pub fn build_blocking(store: &Store, request: RoiRequest) -> Result<Report> {
    let input =
        store.roi_input_blocking(request.days.from, request.days.to, request.markov_window())?;
    Ok(roi::summarise(&input, &request.query))
}

/// The report as an Excel workbook, written on the blocking pool.
pub async fn workbook(report: Report, lang: crate::report::Lang) -> Result<Vec<u8>> {
    off_the_workers("workbook", move || crate::xlsx::workbook(&report, lang)).await?
}
