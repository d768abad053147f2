"""Use cases that combine the domains; the CLI, the API and the job queue call these."""

from callvault.services._context import Context, open_context
from callvault.services.calls import (
    call_document,
    erase_call,
    export_audio,
    listen_audio,
    search_calls,
    semantic_search_calls,
)
from callvault.services.consent import ConsentAdded, add_consent
from callvault.services.contacts import (
    account_timeline,
    contact_timeline,
    import_contacts_csv,
    push_call_to_crm,
)
from callvault.services.demo import demo_call, synthesize_demo_wav
from callvault.services.ingest import (
    CallContext,
    IngestedCall,
    admit,
    ingest_captured,
    ingest_files,
)
from callvault.services.jobs import (
    enqueue_processing,
    open_queue,
    pending_jobs,
    queue_missing_processing,
    run_jobs,
    task_registry,
)
from callvault.services.process import PROCESS_TASK, ProcessResult, process_call, transcript_json
from callvault.services.reindex import REINDEX_PURPOSE, ReindexResult, reindex_search
from callvault.services.retention import (
    RetentionErased,
    RetentionReport,
    RetentionSkipped,
    run_retention,
)
from callvault.services.rights import (
    SubjectErasure,
    SubjectExport,
    SubjectSearch,
    erase_subject,
    export_subject,
    find_subject,
)
from callvault.services.withdrawal import WithdrawalOutcome, withdraw_during_call

__all__ = [
    "Context",
    "open_context",
    "REINDEX_PURPOSE",
    "ReindexResult",
    "reindex_search",
    "PROCESS_TASK",
    "CallContext",
    "ConsentAdded",
    "IngestedCall",
    "ProcessResult",
    "RetentionErased",
    "RetentionReport",
    "RetentionSkipped",
    "SubjectErasure",
    "SubjectExport",
    "SubjectSearch",
    "WithdrawalOutcome",
    "account_timeline",
    "add_consent",
    "admit",
    "call_document",
    "contact_timeline",
    "demo_call",
    "enqueue_processing",
    "erase_call",
    "erase_subject",
    "export_audio",
    "export_subject",
    "find_subject",
    "import_contacts_csv",
    "ingest_captured",
    "ingest_files",
    "listen_audio",
    "open_queue",
    "pending_jobs",
    "process_call",
    "push_call_to_crm",
    "queue_missing_processing",
    "run_jobs",
    "run_retention",
    "search_calls",
    "semantic_search_calls",
    "synthesize_demo_wav",
    "task_registry",
    "transcript_json",
    "withdraw_during_call",
]
