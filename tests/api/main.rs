//! Black-box HTTP tests: every test talks to a real leadgate server over TCP, either spawned
//! in-process on port 0 (`helpers::spawn_app`) or run as the `leadgate` binary (`process`).

mod helpers;
mod postgres;

mod assignment;
mod audit;
mod backup;
mod browser;
mod calls;
mod campaigns;
mod console;
mod console_destinations;
mod console_sales;
mod console_schedules;
mod conversions;
mod costs;
mod delivery;
mod demo;
mod disk;
mod edge;
mod erasure_nodes;
mod exports;
mod faults;
mod follow_up;
mod forms;
mod hostile;
mod imports;
mod layers;
mod leads;
mod limits;
mod markov;
mod nodes;
mod operations;
mod privacy;
mod process;
mod qr;
mod ranges;
mod readme;
mod receiver;
mod replication;
mod replication_history;
mod replication_tls;
mod roi;
mod schedules;
mod security;
