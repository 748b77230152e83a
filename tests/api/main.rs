//! Black-box HTTP tests: every test talks to a real leadgate server over TCP, either spawned
//! in-process on port 0 (`helpers::spawn_app`) or run as the `leadgate` binary (`process`).

mod helpers;

mod calls;
mod campaigns;
mod conversions;
mod costs;
mod disk;
mod faults;
mod forms;
mod hostile;
mod imports;
mod leads;
mod limits;
mod process;
mod qr;
mod ranges;
mod roi;
mod security;
