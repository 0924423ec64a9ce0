/** An entity as Defender shows it: `entityType` plus type-specific fields. */
export interface Entity {
  entityType: string;
  [field: string]: string | null | undefined;
}

export interface Alert {
  alertId: string;
  title: string;
  description: string;
  category: string;
  status: string;
  severity: string;
  creationTime: string;
  firstActivity: string | null;
  lastActivity: string | null;
  detectorId: string;
  mitreTechniques: string[];
  entities: Entity[];
  /** Result rows kept as evidence, one object per row. */
  evidence: Record<string, unknown>[] | null;
}

export interface HistoryEntry {
  at: string;
  actor: string;
  action: string;
  detail: string;
}

export interface Comment {
  comment: string;
  createdBy: string;
  createdTime: string;
}

export interface Incident {
  incidentId: number;
  incidentName: string;
  description: string;
  createdTime: string;
  lastUpdateTime: string;
  firstActivity: string | null;
  lastActivity: string | null;
  assignedTo: string | null;
  severity: string;
  /** Sentinel's status: New, Active, Closed. */
  incidentStatus: string;
  /** Sentinel's classification: TruePositive, BenignPositive, FalsePositive, Undetermined. */
  sentinelClassification: string | null;
  determination: string;
  classificationComment: string | null;
  closedTime: string | null;
  tags: string[];
  comments: Comment[];
  alerts: Alert[];
  workspaceId: string;
  relatedAnalyticRuleIds: string[];
  history?: HistoryEntry[];
}

export interface IncidentList {
  "@odata.count"?: number;
  value: Incident[];
}

/** Sentinel's statuses, and what `PATCH /api/incidents/{id}` (Defender's vocabulary) takes for each. */
export const STATUSES = ["New", "Active", "Closed"] as const;
export type Status = (typeof STATUSES)[number];
export const PATCH_STATUS: Record<Status, string> = { New: "Active", Active: "InProgress", Closed: "Resolved" };

/** Sentinel's classifications, and Defender's names for them in a PATCH. */
export const CLASSIFICATIONS = ["TruePositive", "BenignPositive", "FalsePositive", "Undetermined"] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];
export const PATCH_CLASSIFICATION: Record<Classification, string> = {
  TruePositive: "TruePositive",
  BenignPositive: "InformationalExpectedActivity",
  FalsePositive: "FalsePositive",
  Undetermined: "Unknown",
};

export const DETERMINATIONS = [
  "NotAvailable",
  "Apt",
  "Malware",
  "SecurityPersonnel",
  "SecurityTesting",
  "UnwantedSoftware",
  "MultiStagedAttack",
  "MaliciousUserActivity",
  "CompromisedAccount",
  "Phishing",
  "LineOfBusinessApplication",
  "ConfirmedActivity",
  "NotMalicious",
  "Other",
] as const;
