//! The plan: which streams, what each carries, what its `$match` lets through.

use super::branch::reads;
use super::*;

fn sub(
    rule: &str,
    target: &str,
    on: &[&str],
    filter: Document,
    full: FullDocument,
) -> Subscription {
    Subscription {
        rule: rule.into(),
        target: target.parse().unwrap(),
        on: on.iter().map(|o| OperationType::parse(o)).collect(),
        filter,
        full_document: full,
        before_change: FullDocumentBeforeChange::Off,
        snapshot: true,
    }
}

#[test]
fn rules_on_one_target_share_a_stream() {
    let plans = plan(&[
        sub(
            "a",
            "shop.orders",
            &["insert"],
            doc! {"fullDocument.total": {"$gt": 10}},
            FullDocument::Default,
        ),
        sub(
            "b",
            "shop.orders",
            &["update"],
            doc! {},
            FullDocument::UpdateLookup,
        ),
        sub(
            "c",
            "shop.orders",
            &["delete"],
            doc! {},
            FullDocument::Default,
        ),
    ]);
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(p.id, "mongodb:shop.orders");
    assert_eq!(p.full_document, FullDocument::UpdateLookup);
    assert_eq!(
        p.pipeline,
        vec![doc! {"$match": {"$or": [
            {"$and": [{"operationType": {"$in": ["insert"]}}, {"fullDocument.total": {"$gt": 10}}]},
            {"operationType": {"$in": ["update"]}},
            {"operationType": {"$in": ["delete"]}},
            {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
        ]}}]
    );
}

#[test]
fn disjoint_targets_get_a_stream_each() {
    let plans = plan(&[
        sub(
            "a",
            "shop.orders",
            &["insert"],
            doc! {},
            FullDocument::Default,
        ),
        sub("b", "hr", &["insert"], doc! {}, FullDocument::Default),
        sub(
            "c",
            "ops.audit",
            &["insert"],
            doc! {},
            FullDocument::Default,
        ),
    ]);
    let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["mongodb:ops.audit", "mongodb:shop.orders", "mongodb:hr"]
    );
    assert_eq!(summary(&plans), "3 rules on 3 targets: 3 streams");
}

#[test]
fn a_cluster_target_carries_every_other_target() {
    let plans = plan(&[
        sub(
            "coll",
            "st.docs",
            &["insert"],
            doc! {"fullDocument.n": 1},
            FullDocument::Default,
        ),
        sub("db", "st", &["insert"], doc! {}, FullDocument::UpdateLookup),
        sub("all", "*", &["insert"], doc! {}, FullDocument::Default),
        sub(
            "coll2",
            "st.docs",
            &["delete"],
            doc! {},
            FullDocument::Default,
        ),
    ]);
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(p.id, "mongodb:*");
    assert_eq!(p.target, WatchTarget::Cluster);
    assert_eq!(p.rules, ["coll", "db", "all", "coll2"]);
    assert_eq!(p.full_document, FullDocument::UpdateLookup);
    assert_eq!(summary(&plans), "4 rules on 3 targets: 1 stream");
    assert_eq!(
        p.pipeline,
        vec![doc! {"$match": {"$or": [
            {"$and": [
                {"operationType": {"$in": ["insert"]}},
                {"ns.db": "st"}, {"ns.coll": {"$in": ["docs", null]}},
                {"fullDocument.n": 1},
            ]},
            {"$and": [{"operationType": {"$in": ["insert"]}}, {"ns.db": "st"}]},
            {"operationType": {"$in": ["insert"]}},
            {"$and": [
                {"operationType": {"$in": ["delete"]}},
                {"ns.db": "st"}, {"ns.coll": {"$in": ["docs", null]}},
            ]},
            {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
        ]}}]
    );
}

#[test]
fn a_database_target_carries_its_collections_only() {
    let plans = plan(&[
        sub("a", "st.docs", &["insert"], doc! {}, FullDocument::Default),
        sub("b", "st", &["insert"], doc! {}, FullDocument::Default),
        sub(
            "c",
            "other.docs",
            &["insert"],
            doc! {},
            FullDocument::Default,
        ),
    ]);
    let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["mongodb:other.docs", "mongodb:st"]);
    assert_eq!(plans[1].rules, ["a", "b"]);
    assert_eq!(
        plans[1].targets,
        [
            "st.docs".parse::<WatchTarget>().unwrap(),
            "st".parse().unwrap()
        ]
    );
    assert_eq!(summary(&plans), "3 rules on 3 targets: 2 streams");
    assert_eq!(stream_target("mongodb:st"), Some("st".parse().unwrap()));
    assert_eq!(stream_target("file:/x"), None);
}

#[test]
fn a_wider_stream_keeps_each_rule_to_its_namespace() {
    let subs = [
        sub(
            "a",
            "st.docs",
            &["insert", "dropDatabase"],
            doc! {},
            FullDocument::Default,
        ),
        sub("b", "x", &["insert"], doc! {}, FullDocument::Default),
        sub("c", "*", &["update"], doc! {}, FullDocument::Default),
    ];
    let stream =
        herald_core::Filter::compile(plan(&subs)[0].pipeline[0].get_document("$match").unwrap())
            .unwrap();
    let accepts = |e: Document| stream.matches(&bson::RawDocumentBuf::from_document(&e).unwrap());
    assert!(accepts(
        doc! {"operationType": "insert", "ns": {"db": "st", "coll": "docs"}}
    ));
    assert!(accepts(
        doc! {"operationType": "dropDatabase", "ns": {"db": "st"}}
    ));
    assert!(accepts(
        doc! {"operationType": "insert", "ns": {"db": "x", "coll": "any"}}
    ));
    assert!(accepts(
        doc! {"operationType": "update", "ns": {"db": "y", "coll": "z"}}
    ));
    assert!(!accepts(
        doc! {"operationType": "insert", "ns": {"db": "st", "coll": "other"}}
    ));
    assert!(!accepts(
        doc! {"operationType": "insert", "ns": {"db": "y", "coll": "docs"}}
    ));
}

#[test]
fn the_pushed_down_match_keeps_every_event_a_rule_matches() {
    // Whatever a rule's filter accepts, the stream's $match must accept too.
    let subs = [
        sub(
            "a",
            "d.c",
            &["insert"],
            doc! {"fullDocument.n": {"$gte": 5}},
            FullDocument::Default,
        ),
        sub(
            "b",
            "d.c",
            &["update"],
            doc! {"updateDescription.updatedFields.s": "x"},
            FullDocument::Default,
        ),
    ];
    let stream =
        herald_core::Filter::compile(plan(&subs)[0].pipeline[0].get_document("$match").unwrap())
            .unwrap();
    let events = [
        doc! {"operationType": "insert", "fullDocument": {"n": 7}},
        doc! {"operationType": "update", "updateDescription": {"updatedFields": {"s": "x"}}},
        doc! {"operationType": "drop"},
        doc! {"operationType": "invalidate"},
    ];
    for e in &events {
        assert!(
            stream.matches(&bson::RawDocumentBuf::from_document(e).unwrap()),
            "{e}"
        );
    }
    let rejected = doc! {"operationType": "insert", "fullDocument": {"n": 1}};
    assert!(!stream.matches(&bson::RawDocumentBuf::from_document(&rejected).unwrap()));
}

#[test]
fn a_requirement_is_asked_of_the_server_only_when_every_rule_has_it() {
    let with = |full: FullDocument, before: FullDocumentBeforeChange| Subscription {
        before_change: before,
        ..sub("r", "d.c", &["update"], doc! {}, full)
    };
    let options = |subs: &[Subscription]| {
        let p = plan(subs).remove(0);
        (p.full_document, p.before_change)
    };
    use FullDocument as F;
    use FullDocumentBeforeChange as B;
    assert_eq!(
        options(&[
            with(F::Required, B::Required),
            with(F::Required, B::Required)
        ]),
        (F::Required, B::Required)
    );
    assert_eq!(
        options(&[with(F::Required, B::Required), with(F::Default, B::Off)]),
        (F::WhenAvailable, B::WhenAvailable)
    );
    assert_eq!(
        options(&[with(F::Required, B::Off), with(F::UpdateLookup, B::Off)]),
        (F::UpdateLookup, B::Off)
    );
}

#[test]
fn a_branch_does_not_test_an_image_its_rule_does_not_see() {
    // `plain` never sees the document `lookup` makes the server look up on
    // updates, so the server must not test plain's filter on updates.
    let plain = sub(
        "plain",
        "d.c",
        &["insert", "update"],
        doc! {"fullDocument.deleted": {"$ne": true}},
        FullDocument::Default,
    );
    let lookup = sub(
        "lookup",
        "d.c",
        &["update"],
        doc! {"fullDocument.status": "paid"},
        FullDocument::UpdateLookup,
    );
    let p = plan(&[plain.clone(), lookup]).remove(0);
    assert_eq!(
        p.pipeline,
        vec![doc! {"$match": {"$or": [
            {"$and": [{"operationType": {"$in": ["insert"]}}, {"fullDocument.deleted": {"$ne": true}}]},
            {"operationType": {"$in": ["update"]}},
            {"$and": [{"operationType": {"$in": ["update"]}}, {"fullDocument.status": "paid"}]},
            {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
        ]}}]
    );
    let stream =
        herald_core::Filter::compile(p.pipeline[0].get_document("$match").unwrap()).unwrap();
    let looked_up =
        doc! {"operationType": "update", "fullDocument": {"deleted": true, "status": "new"}};
    assert!(stream.matches(&bson::RawDocumentBuf::from_document(&looked_up).unwrap()));

    // Alone, or beside a rule that asks no more than it does, the filter is pushed down whole.
    let alone = plan(std::slice::from_ref(&plain)).remove(0);
    assert_eq!(
        alone.pipeline,
        vec![doc! {"$match": {"$or": [
            {"$and": [{"operationType": {"$in": ["insert", "update"]}}, {"fullDocument.deleted": {"$ne": true}}]},
            {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
        ]}}]
    );
}

#[test]
fn a_branch_does_not_test_a_pre_image_its_rule_does_not_see() {
    let before = |rule: &str, filter: Document, option: FullDocumentBeforeChange| Subscription {
        before_change: option,
        ..sub(
            rule,
            "d",
            &["insert", "delete"],
            filter,
            FullDocument::Default,
        )
    };
    let p = plan(&[
        // Reads the pre-image through $or: not pushed down where one may appear.
        before(
            "plain",
            doc! {"$or": [{"ns.coll": "x"}, {"fullDocumentBeforeChange.a": 1}]},
            FullDocumentBeforeChange::Off,
        ),
        // Does not read it: pushed down whole.
        before(
            "keys",
            doc! {"documentKey._id": 1},
            FullDocumentBeforeChange::Off,
        ),
        // Asked for it: pushed down whole.
        before(
            "pre",
            doc! {"fullDocumentBeforeChange.a": 2},
            FullDocumentBeforeChange::WhenAvailable,
        ),
    ])
    .remove(0);
    let or = p.pipeline[0]
        .get_document("$match")
        .unwrap()
        .get_array("$or")
        .unwrap()
        .clone();
    assert_eq!(
        or,
        [
            doc! {"$and": [{"operationType": {"$in": ["insert"]}}, {"$or": [{"ns.coll": "x"}, {"fullDocumentBeforeChange.a": 1}]}]},
            doc! {"operationType": {"$in": ["delete"]}},
            doc! {"$and": [{"operationType": {"$in": ["insert", "delete"]}}, {"documentKey._id": 1}]},
            doc! {"$and": [{"operationType": {"$in": ["insert", "delete"]}}, {"fullDocumentBeforeChange.a": 2}]},
            doc! {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
        ]
        .map(Bson::Document)
    );
}

#[test]
fn what_a_filter_reads() {
    assert!(reads(&doc! {"fullDocument.a": 1}, "fullDocument"));
    assert!(reads(&doc! {"fullDocument": null}, "fullDocument"));
    assert!(!reads(
        &doc! {"fullDocumentBeforeChange.a": 1},
        "fullDocument"
    ));
    assert!(reads(
        &doc! {"$nor": [{"$and": [{"x": 1}, {"fullDocument.a": {"$not": {"$gt": 1}}}]}]},
        "fullDocument"
    ));
    assert!(reads(
        &doc! {"$expr": {"$eq": ["$ns.coll", "x"]}},
        "fullDocument"
    ));
    assert!(!reads(
        &doc! {"ns.coll": "x", "$comment": "c", "$or": [{"documentKey._id": 1}]},
        "fullDocument"
    ));
}

#[test]
fn stages_are_checked_when_planned() {
    let subs = [
        sub("a", "shop", &["insert"], doc! {}, FullDocument::Default),
        sub(
            "b",
            "shop.orders",
            &["insert"],
            doc! {},
            FullDocument::Default,
        ),
    ];
    let target = |t: &str| -> WatchTarget { t.parse().unwrap() };
    let unset = vec![doc! {"$unset": "fullDocument.card"}];
    // A stage herald or the server refuses.
    let refused: BTreeMap<_, _> = [(target("shop.orders"), vec![doc! {"$unset": "ns"}])].into();
    let err = plan_with(&subs, &refused).unwrap_err();
    assert!(
        matches!(&err, StagesError::Refused { target: t, why } if *t == target("shop.orders") && why.starts_with("stages[0]: $unset")),
        "{err}"
    );
    // Nested targets with stages: the inner target's events would reach neither stream.
    let nested: BTreeMap<_, _> = [
        (target("shop"), unset.clone()),
        (target("shop.orders"), unset.clone()),
    ]
    .into();
    assert_eq!(
        plan_with(&subs, &nested).unwrap_err(),
        StagesError::Nested {
            outer: target("shop"),
            inner: target("shop.orders")
        }
    );
    let one: BTreeMap<_, _> = [(target("shop.orders"), unset)].into();
    assert_eq!(plan_with(&subs, &one).unwrap().len(), 2);
}
