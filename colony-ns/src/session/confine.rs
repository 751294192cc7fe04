//! What root inside a session may do: Docker's default capability set and
//! a seccomp filter refusing the calls that reach past the session (kernel
//! modules, kexec, the clock, keyrings, bpf, perf, swap, reboot, raw port
//! I/O, `open_by_handle_at`, userfaultfd, the kernel log) and, unless the
//! spec enables them, new user namespaces.
//!
//! Applied by the session's init and by every enter helper before the
//! command runs; children inherit both. The filter is compiled by
//! `seccompiler` and installed without `no_new_privs`, so setuid programs
//! (`su`, `passwd`) keep working: that needs `CAP_SYS_ADMIN` in the
//! session's user namespace at install time, which is why the filter goes
//! in before the capabilities are dropped.

use std::collections::{BTreeMap, HashSet};

use caps::{CapSet, Capability};
use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The capabilities root inside keeps: Docker's default set.
pub const ALLOWED_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// System calls every session is refused (EPERM), by name and number.
pub fn refused_calls() -> Vec<(&'static str, i64)> {
    let mut calls = vec![
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("settimeofday", libc::SYS_settimeofday),
        ("adjtimex", libc::SYS_adjtimex),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("syslog", libc::SYS_syslog),
        ("acct", libc::SYS_acct),
        ("quotactl", libc::SYS_quotactl),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([("iopl", libc::SYS_iopl), ("ioperm", libc::SYS_ioperm)]);
    calls
}

/// The architecture the filter is compiled for; calls through any other
/// entry point (i386's, say) kill the process, so no call slips past under
/// another number. x32 calls share x86_64's entry point: [`with_x32`]
/// refuses them by number.
#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// What a session's processes are confined to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Let processes make user namespaces of their own.
    pub nested_user_namespaces: bool,
}

/// The compiled filters of a policy, built before forking so that the
/// confined process only installs them.
pub struct Filters(Vec<BpfProgram>);

impl Policy {
    /// Compiles the policy's seccomp filters.
    pub fn filters(&self) -> Result<Filters> {
        let eperm = SeccompAction::Errno(libc::EPERM as u32);
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = refused_calls()
            .into_iter()
            .map(|(_, nr)| (nr, Vec::new()))
            .collect();
        let mut programs = Vec::new();
        if !self.nested_user_namespaces {
            let newuser = flag_rule(0, libc::CLONE_NEWUSER as u64)?;
            rules.insert(libc::SYS_unshare, vec![newuser.clone()]);
            rules.insert(libc::SYS_clone, vec![newuser]);
            // clone3 passes its flags in memory a filter cannot read:
            // ENOSYS makes the C library fall back to clone, which is checked.
            let enosys = SeccompAction::Errno(libc::ENOSYS as u32);
            let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
            programs.push(compile(with_x32(clone3), enosys)?);
        }
        programs.push(compile(with_x32(rules), eperm)?);
        Ok(Filters(programs))
    }
}

/// On x86_64 the same rules again under the x32 ABI's numbers (the x86_64
/// number with bit 30 set; kexec_load has an x32 number of its own), for
/// kernels built with that ABI: its calls come through the x86_64 entry
/// point, which the architecture check lets in.
#[cfg(target_arch = "x86_64")]
fn with_x32(mut rules: BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Vec<SeccompRule>> {
    const X32_BIT: i64 = 0x4000_0000;
    const X32_KEXEC_LOAD: i64 = 528;
    let mut x32: Vec<(i64, Vec<SeccompRule>)> = rules
        .iter()
        .map(|(nr, r)| (nr | X32_BIT, r.clone()))
        .collect();
    x32.push((X32_KEXEC_LOAD | X32_BIT, Vec::new()));
    rules.extend(x32);
    rules
}

#[cfg(not(target_arch = "x86_64"))]
fn with_x32(rules: BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Vec<SeccompRule>> {
    rules
}

/// A rule matching calls whose argument `arg` has every bit of `flag` set.
fn flag_rule(arg: u8, flag: u64) -> Result<SeccompRule> {
    let cond = SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(flag),
        flag,
    )
    .map_err(Error::Seccomp)?;
    SeccompRule::new(vec![cond]).map_err(Error::Seccomp)
}

/// One filter: the calls in `rules` get `action`, every other call passes.
fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<BpfProgram> {
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, action, ARCH).map_err(Error::Seccomp)?;
    filter.try_into().map_err(Error::Seccomp)
}

/// Confines the calling (single-threaded) process: installs `filters`,
/// then keeps only [`ALLOWED_CAPS`] in every capability set, the bounding
/// set included, so no exec (setuid or not) gets more back.
pub fn apply(filters: &Filters) -> Result<()> {
    for program in &filters.0 {
        install(program)?;
    }
    let allowed: HashSet<Capability> = ALLOWED_CAPS.into_iter().collect();
    for cap in caps::runtime::thread_all_supported() {
        if !allowed.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| caps_error("drop bounding", e))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| caps_error("clear ambient", e))?;
    caps::set(None, CapSet::Inheritable, &HashSet::new())
        .map_err(|e| caps_error("clear inheritable", e))?;
    // Effective must shrink before permitted: it may never exceed it.
    for set in [CapSet::Effective, CapSet::Permitted] {
        let now = caps::read(None, set).map_err(|e| caps_error("read", e))?;
        let kept = now.intersection(&allowed).copied().collect();
        caps::set(None, set, &kept).map_err(|e| caps_error("set", e))?;
    }
    Ok(())
}

/// Installs one compiled filter with `prctl(PR_SET_SECCOMP)`.
fn install(program: &BpfProgram) -> Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| Error::SeccompTooLong(program.len()))?;
    let fprog = libc::sock_fprog {
        len,
        // seccompiler's sock_filter is the kernel's struct, field for field.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `program`, alive for the call; the kernel
    // copies the filter before returning.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(Error::sys(
            "install seccomp filter",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

fn caps_error(what: &'static str, source: caps::errors::CapsError) -> Error {
    Error::Capabilities { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    /// Arguments that make each refused call fail harmlessly (a null or
    /// bad pointer, an invalid flag) should the filter ever let it through,
    /// so the probe changes nothing either way.
    fn harmless_args(name: &str) -> [u64; 4] {
        match name {
            "kexec_load" | "kexec_file_load" => [0, 0, 0, u64::MAX],
            "reboot" => [0, 0, 0, 0],
            "iopl" => [4, 0, 0, 0],
            "ioperm" => [u64::MAX, 1, 0, 0],
            "clock_settime" | "clock_adjtime" => [0, 1, 0, 0],
            "acct" | "adjtimex" | "swapoff" => [1, 0, 0, 0],
            "syslog" => [u64::MAX, 0, 0, 0],
            "userfaultfd" => [u64::MAX, 0, 0, 0],
            "open_by_handle_at" | "finit_module" => [u64::MAX, 1, 0, 0],
            _ => [1, 1, 1, 1],
        }
    }

    #[test]
    fn every_refused_call_gets_eperm_and_clone3_enosys() {
        if !nix::unistd::geteuid().is_root() {
            assert!(std::env::var_os("CI").is_none(), "CI must run as root");
            eprintln!("skipping: installing a seccomp filter without no_new_privs needs root");
            return;
        }
        let policy = Policy {
            nested_user_namespaces: false,
        };
        let filters = policy.filters().unwrap();
        let mut calls: Vec<(i64, [u64; 4], i32)> = refused_calls()
            .into_iter()
            .map(|(name, nr)| (nr, harmless_args(name), libc::EPERM))
            .collect();
        calls.push((
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as u64, 0, 0, 0],
            libc::EPERM,
        ));
        calls.push((libc::SYS_clone3, [1, 0, 0, 0], libc::ENOSYS));
        // Built before forking: the child only makes system calls.
        // SAFETY: the child calls only prctl, syscall and _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let mut code = 0;
                for program in &filters.0 {
                    if install(program).is_err() {
                        code = 100;
                    }
                }
                for (i, (nr, a, want)) in calls.iter().enumerate() {
                    // SAFETY: every argument is a number or a bad pointer the
                    // kernel checks; the filter answers before any is used.
                    let rc = unsafe { libc::syscall(*nr, a[0], a[1], a[2], a[3]) };
                    if code == 0 && (rc != -1 || nix::errno::Errno::last_raw() != *want) {
                        code = i as i32 + 1;
                    }
                }
                // SAFETY: leaves the child without running the parent's
                // destructors or the test harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).unwrap() {
                WaitStatus::Exited(_, 0) => {}
                WaitStatus::Exited(_, 100) => panic!("the filter did not install"),
                WaitStatus::Exited(_, n) => {
                    panic!("call {:?} was not refused", calls[n as usize - 1].0)
                }
                other => panic!("probe ended {other:?}"),
            },
        }
    }

    #[test]
    fn nested_user_namespaces_when_enabled_add_no_clone_rules() {
        let on = Policy {
            nested_user_namespaces: true,
        };
        let off = Policy {
            nested_user_namespaces: false,
        };
        assert_eq!(on.filters().unwrap().0.len(), 1);
        assert_eq!(off.filters().unwrap().0.len(), 2, "clone3 gets ENOSYS");
        assert!(ALLOWED_CAPS.len() == 14 && !ALLOWED_CAPS.contains(&Capability::CAP_SYS_ADMIN));
    }
}
