// Package domain is switchboard's rulebook: the language of SPEC.md (channels, senders,
// identifiers, match keys, contacts, events), the resolution rules as pure functions,
// the ports the outside world is reached through (EventStore, ContactDirectory,
// InboxPublisher, ProfileLookup) and the error codes callers decide on. It performs no
// I/O and imports no infrastructure.
//
// The resolution of one message is DecideResolution: a pure function of what is known
// (channel settings, the identification, the match key's state, the corrections in
// force, the search's candidates) that returns what to do next. The application layer,
// switchboard/domain/command, performs the I/O a decision asks for and records its
// events; it is also where the rules that are about the log itself (exactly once,
// retries) are carried out.
//
// Where each rule of SPEC §3 lives (names prefixed with "command." are in
// switchboard/domain/command; TestRulebookNamesExist checks that every name exists):
//
//	rule                       | implemented by                                                               | not yet
//	 1 phone channels          | NormalizePhone, PhoneWhatsAppID, Identify, UnlinkedNoPhone                   | -
//	 2 phone match             | SamePhone, NationalNumbers, PhoneQuery, ConfirmCandidates                    | -
//	 3 social channels         | IdentifyByUsername, IdentifyByUserID, NormalizeUsername, NormalizeUserID,    | -
//	                           | Identification.Spellings, ConfirmCandidates, ChannelSettings.Validate,       |
//	                           | ProfileLookup                                                                |
//	 4 no match                | ChannelSettings.CreatesContacts, DecideResolution, DecideClaim,              | -
//	                           | DecideCreate, NewContactProperties, UnlinkedNoMatch, UnlinkedSlackNoMatch    |
//	 5 properties              | NewContactProperties, ChannelSettings.Validate, ContactExistsError,          | email as a refused identifier property
//	                           | CreatePolicy                                                                 |
//	 6 several matches         | ChooseCandidate, ConfirmCandidates, CandidateVerdict,                        | -
//	                           | ContactMatched.Ambiguous                                                     |
//	 7 sticky resolution       | KeyState, FoldKey, DecideSticky, EventMatchKeyForgotten,                     | the emulator's own signed webhooks (issue 11)
//	                           | EventMatchKeyFollowed, HubSpotContactChanged, ChangeOfWebhook, ChangeOfRead, |
//	                           | DecideKeyChange, KeyMatchesContact, KeyChangeCause, ResolutionRevoked,       |
//	                           | command.RecordHubSpotChangesHandler, command.ContactChangesHandler,          |
//	                           | command.ContactChangesRoute, command.ReconcileHandler, ResolutionInput.Gone  |
//	 8 exactly once            | MessageStream, NoStream, MatchKey, ClaimLease, KeyState.ClaimLive, Attempt,  | -
//	                           | NewAttempt, DecideWait, DecideClaim, MatchKeyCreateAttempted,                |
//	                           | MatchKeyClaimReleased, KeyState.CreatePending, CreateTimeout, CreatePolicy,  |
//	                           | DecideConfirmCreate, DecideWaitSearchLag, DecideAdoptCreated,                |
//	                           | command.RecordMessageHandler, command.ResolveMessageHandler,                 |
//	                           | command.CreatePolicies, command.Repository.Create                            |
//	 9 threads                 | ThreadID, command.PublishRoute.Partition, MessageState.ThreadRef,            | -
//	                           | ContactMatched.ThreadRef, MatchKeyResolved.ThreadRef, KeyState.ThreadRef     |
//	10 nothing lost            | IdempotencyID, DeadLettered, RetryRequested, command.PublishMessageHandler,  | -
//	                           | command.RetryDeadLetterHandler                                               |
//	11 mobile quirks           | PhoneNormalization.Mobile, PhoneVariants, SamePhone                          | -
//	12 blocked identifiers     | BlockList, NewBlockList, BlockList.Blocked, UnlinkedBlocked                  | -
//	13 operators' corrections  | Corrections, Correction, Corrections.Forbids, DecideLink, CheckCorrection,   | -
//	                           | DecideCorrection, EventMatchKeyLinked, EventMatchKeyNeverLinked,             |
//	                           | EventMatchKeyUnpinned, Corrections.Cited, command.CorrectMatchKeyHandler     |
//	14 WhatsApp without phone  | Identify, UnlinkedBSUIDOnly, ChannelSettings.BSUIDProperty, BSUIDKey,        | -
//	                           | NewContactProperties, DecideBSUID, EventMatchKeyBSUIDRecorded,               |
//	                           | MatchKeyBSUIDRecorded, HowBSUIDWithPhone, KeyState.BSUID,                    |
//	                           | command.ResolveMessageHandler.recordBSUID                                    |
//	15 what-if                 | DecideResolution, WhatIfReport, WhatIfChanged, WhatIfOutcome,                | -
//	                           | command.Simulator, command.ReadOnlyDirectory, command.LogReader              |
//	16 why, also in HubSpot    | BuildInboxMessage, InboxMessage.MatchedProperties                            | -
//	17 erasure                 | -                                                                            | privacy deletion, switchboard erase
package domain
