//! The JSON API and the public pages: one file per area, each an adapter that reads the
//! request, calls the service layer and writes the response. Thin on purpose.

pub mod audit;
pub mod backup;
pub mod calls;
pub mod campaigns;
pub mod conversions;
pub mod destinations;
pub mod erasures;
pub mod forms;
pub mod leads;
pub mod qr;
pub mod replication;
pub mod roi;
pub mod salespeople;
pub mod schedules;
