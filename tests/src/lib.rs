pub mod bacula_stack;
pub mod dump_server_run;
pub mod fault_proxy;
pub mod harness;
pub mod scenario;
pub mod servers;
