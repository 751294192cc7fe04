//! `colony init` and `colony adduser`: a grid's identity and its users.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use colony_bins::data_dir::DataDirArg;
use colony_core::identity::{self, InitOptions};
use colony_core::{NodeId, UserName};

/// `colony init`.
#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The node id (1 to 32 of a-z 0-9; random if not given).
    #[arg(long)]
    node: Option<NodeId>,
    /// Another host name or address the node certificate is valid for
    /// (it always covers the node id, localhost, 127.0.0.1 and ::1).
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// The admin user's name.
    #[arg(long, default_value = "admin")]
    admin: UserName,
    /// Join an existing grid instead, with a join file from `colony node
    /// add` (the node id and host names are in it; no CA key, no users).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["node", "hostnames", "admin"])]
    join: Option<PathBuf>,
}

/// `colony adduser`.
#[derive(Args)]
pub struct AddUserArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The new user's name (1 to 32 of a-z 0-9 _ -).
    name: UserName,
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.path();
    if let Some(join) = &args.join {
        let node = identity::init_join(&dir, join)?;
        println!("initialised {} as node {node}", dir.display());
        println!("users are added where the grid CA's key is (colony adduser there)");
        return Ok(ExitCode::SUCCESS);
    }
    let options = InitOptions {
        node_id: args.node,
        hostnames: args.hostnames,
        admin: args.admin.clone(),
    };
    let made = identity::init(&dir, &options)?;
    println!("initialised {} as node {}", dir.display(), made.node);
    println!(
        "{} credential: {}",
        args.admin,
        made.admin_credential.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn adduser(args: AddUserArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.path();
    NodeId::load(&dir).with_context(|| {
        format!(
            "{} is not a colony data directory (run colony init)",
            dir.display()
        )
    })?;
    let path = identity::adduser(&dir, &args.name)?;
    println!("{} credential: {}", args.name, path.display());
    Ok(ExitCode::SUCCESS)
}
