//! `quizrace play` and `quizrace explain --seed`: the controlled scheduler.
//!
//! Every racy level's winning move list must break the round (through the
//! real binary), and every schedule of every correct level must keep it:
//! the schedules are enumerated (each prefix replayed on fresh state), so
//! "no order breaks it" is checked, not sampled. Levels on Redis start
//! their own `redis-server`; the PostgreSQL level uses the machine's server
//! (`#[ignore]`d like the other server tests; CI runs them).

use quizrace::backend::{self, Env};
use quizrace::play::{Goal, Level, LEVELS};
use quizrace::sched;

use crate::support::{quizrace, serial, RedisServer};

fn pg_url() -> String {
    std::env::var("QUIZRACE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The environment a level needs: its back end at `url`.
fn env_for(level: &Level, url: Option<&str>) -> Env {
    let family = level.id().info().backend;
    let needed: Vec<_> = family.into_iter().collect();
    let given: Vec<_> = match (family, url) {
        (Some(f), Some(u)) => vec![(f, u.to_string())],
        _ => Vec::new(),
    };
    backend::configure(&given, &needed).expect("configure the level's back end")
}

fn levels(pred: impl Fn(&Level) -> bool) -> Vec<&'static Level> {
    LEVELS.iter().filter(|l| pred(l)).collect()
}

fn family_is(level: &Level, name: &str) -> bool {
    level.id().info().backend.is_some_and(|f| f.name == name)
}

/// Plays the winning moves of each racy level through the binary and
/// asserts it broke the round (exit 0, "You broke it", an anomaly line).
fn winning_moves_break(levels: &[&Level], flags: &[String]) {
    assert!(!levels.is_empty());
    for level in levels {
        assert_eq!(level.goal, Goal::Break);
        let moves = level
            .winning
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec!["play", level.name(), "--moves", moves.as_str()];
        args.extend(flags.iter().map(String::as_str));
        let out = quizrace(&args);
        assert!(
            out.success() && out.stdout.contains("You broke it"),
            "{}: winning moves {moves} did not break it:\n{}",
            level.name(),
            out.all()
        );
        assert!(
            ["lost update", "duplicate end", "missed end"]
                .iter()
                .any(|a| out.stdout.contains(a)),
            "{}: no anomaly named:\n{}",
            level.name(),
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("Moves: {moves}")),
            "{}",
            out.stdout
        );
    }
}

/// Every schedule of each correct level keeps the invariant: every answer
/// counted, one end. Returns how many schedules were checked.
fn every_schedule_holds(levels: &[&Level], url: Option<&str>) -> usize {
    assert!(!levels.is_empty());
    let mut total = 0;
    for level in levels {
        assert_eq!(level.goal, Goal::Hold);
        let env = env_for(level, url);
        let mut n = 0;
        let complete = sched::enumerate(&level.setup(), &env, 20_000, |moves, replay| {
            n += 1;
            assert!(
                replay.anomalies().is_empty() && replay.fires() == 1,
                "{}: moves {moves:?} broke a correct strategy: {:?}",
                level.name(),
                replay.anomalies()
            );
            assert_eq!(
                replay.counts,
                vec![level.workers as u32],
                "{}",
                level.name()
            );
        })
        .expect("scheduled run");
        assert!(complete, "{}: more than 20,000 schedules", level.name());
        assert!(n > 1, "{}: only {n} schedule(s) explored", level.name());
        total += n;
    }
    total
}

#[test]
fn in_process_racy_levels_break_with_their_winning_moves() {
    winning_moves_break(
        &levels(|l| l.goal == Goal::Break && l.id().info().backend.is_none()),
        &[],
    );
}

#[test]
fn in_process_correct_levels_hold_in_every_schedule() {
    let n = every_schedule_holds(
        &levels(|l| l.goal == Goal::Hold && l.id().info().backend.is_none()),
        None,
    );
    // std-mutex (3 workers, lock-serialised) and atomic (3 workers).
    assert!(n >= 12, "only {n} schedules");
}

/// The racy in-process levels are not broken by every order: some
/// schedule keeps them correct (a checker that calls everything broken
/// would pass the winning-moves test too).
#[test]
fn racy_levels_also_have_schedules_that_do_not_break() {
    for level in levels(|l| l.goal == Goal::Break && l.name() != "local-map")
        .into_iter()
        .filter(|l| l.id().info().backend.is_none())
    {
        let env = env_for(level, None);
        let (mut broken, mut fine) = (0, 0);
        sched::enumerate(&level.setup(), &env, 1_000, |_, replay| {
            if level.reached(replay) {
                broken += 1
            } else {
                fine += 1
            }
        })
        .expect("scheduled run");
        assert!(
            broken > 0 && fine > 0,
            "{}: {broken} broken, {fine} fine",
            level.name()
        );
    }
}

#[test]
#[ignore = "needs redis-server on PATH (CI runs it with --include-ignored)"]
fn redis_levels_break_and_hold() {
    let _serial = serial();
    let server = RedisServer::start(&[]);
    let url = server.url();
    winning_moves_break(
        &levels(|l| l.goal == Goal::Break && family_is(l, "redis")),
        &["--redis-url".into(), url.clone()],
    );
    every_schedule_holds(
        &levels(|l| l.goal == Goal::Hold && family_is(l, "redis")),
        Some(&url),
    );
    assert!(
        server.quizrace_keys().is_empty(),
        "keys left: {:?}",
        server.quizrace_keys()
    );
}

#[test]
#[ignore = "needs PostgreSQL on 127.0.0.1 (CI runs it with --include-ignored)"]
fn sql_level_breaks() {
    let _serial = serial();
    winning_moves_break(
        &levels(|l| l.goal == Goal::Break && family_is(l, "postgres")),
        &["--pg-url".into(), pg_url()],
    );
}

#[test]
fn bad_moves_and_levels_exit_2_with_a_message() {
    for (args, says) in [
        (
            &["play", "no-such-level", "--moves", "1"][..],
            "unknown level",
        ),
        (&["play", "12", "--moves", "1"], "unknown level"),
        (&["play", "racy-rmw", "--moves", ""], "empty"),
        (&["play", "racy-rmw", "--moves", "1,x"], "not `x`"),
        (&["play", "racy-rmw", "--moves", "1,3"], "no worker 3"),
        (
            &["play", "racy-rmw", "--moves", "1,1,1,2"],
            "worker 1 has finished",
        ),
        (
            &["play", "racy-rmw", "--moves", "1,2"],
            "ended after 2 moves",
        ),
        (&["play", "racy-rmw", "--moves", "1,1,2,2,2,1"], "left over"),
        (
            &["play", "std-mutex", "--moves", "1,2"],
            "worker 1 holds the lock",
        ),
        (&["play", "async-rmw", "--moves", "1"], "ended after 1 move"),
    ] {
        let out = quizrace(args);
        out.assert_no_panic();
        assert_eq!(out.code, Some(2), "{args:?}:\n{}", out.all());
        assert!(
            out.stderr.contains(says),
            "{args:?}: expected `{says}`:\n{}",
            out.stderr
        );
    }
    // Without a terminal and without a level: say how to play.
    let out = quizrace(&["play"]);
    assert_eq!(out.code, Some(2), "{}", out.all());
    assert!(out.stderr.contains("racy-rmw"), "{}", out.stderr);
}

#[test]
fn a_level_not_broken_exits_1_and_one_thread_switches_only_at_awaits() {
    // racy-rmw played one worker after the other: correct, goal missed.
    let out = quizrace(&["play", "racy-rmw", "--moves", "1,1,2,2,2"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stdout.contains("No anomaly this time"),
        "{}",
        out.stdout
    );
    // On one thread, a task with no await between read and write cannot be
    // interrupted: with scoring work `none`, every seed gives a correct round.
    for seed in 0..20 {
        let seed = seed.to_string();
        let out = quizrace(&[
            "explain",
            "async-rmw",
            "--seed",
            &seed,
            "--runtime",
            "tokio-current",
            "--scoring-work",
            "none",
        ]);
        assert!(out.success(), "{}", out.all());
        assert!(
            out.stdout.contains("kept the invariant"),
            "seed {seed}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn explain_seed_replays_the_same_interleaving() {
    let mut broke = false;
    for (strategy, seed) in [
        ("racy-rmw", "1"),
        ("racy-rmw", "2"),
        ("racy-rmw", "3"),
        ("std-mutex", "4"),
    ] {
        let args = ["explain", strategy, "--seed", seed, "--players", "3"];
        let first = quizrace(&args);
        let second = quizrace(&args);
        assert!(first.success(), "{}", first.all());
        assert_eq!(
            first.stdout, second.stdout,
            "{strategy} --seed {seed} differs"
        );
        assert!(
            first.stdout.contains("One interleaving, replayed"),
            "{}",
            first.stdout
        );
        broke |= first.stdout.contains("lost update");
        if strategy == "std-mutex" {
            assert!(
                first.stdout.contains("kept the invariant"),
                "{}",
                first.stdout
            );
        }
    }
    assert!(broke, "no seed among 1-3 showed racy-rmw losing an update");
    // Different seeds, different interleavings (some pair among these).
    let outs: Vec<String> = (10..16)
        .map(|s| quizrace(&["explain", "racy-rmw", "--seed", &s.to_string()]).stdout)
        .collect();
    assert!(
        outs.windows(2).any(|w| w[0] != w[1]),
        "six seeds, one interleaving"
    );
    // Bad input.
    for (args, says) in [
        (
            &["explain", "cas", "--seed", "1"][..],
            "every step is traced",
        ),
        (
            &[
                "explain",
                "racy-rmw",
                "--seed",
                "1",
                "--runtime",
                "processes",
            ],
            "does not run on",
        ),
        (
            &["explain", "racy-rmw", "--seed", "1", "--players", "9"],
            "1 to 8",
        ),
        (&["explain", "racy-rmw", "--runtime", "tokio"], "--seed"),
    ] {
        let out = quizrace(args);
        assert_eq!(out.code, Some(2), "{args:?}:\n{}", out.all());
        assert!(
            out.stderr.contains(says),
            "{args:?}: expected `{says}`:\n{}",
            out.stderr
        );
    }
}
