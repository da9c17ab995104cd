/**
 * Beijing calendar days (UTC+8), counted as the contracts count them (contracts/libraries/BeijingTime.sol): a period of
 * n days begins the day after the event that starts it and ends at 24:00 Beijing time of its n-th day. Times are Unix
 * seconds; day numbers count from 1970-01-01 in Beijing.
 */
export const DAY_SECONDS = 86_400;
export const BEIJING_OFFSET_SECONDS = 8 * 3_600;

/** The Beijing calendar day `timestamp` falls on. */
export function beijingDayOf(timestamp: number): number {
  return Math.floor((timestamp + BEIJING_OFFSET_SECONDS) / DAY_SECONDS);
}

/** When Beijing day `day` starts (00:00 Beijing = 24:00 of the day before). */
export function startOfBeijingDay(day: number | bigint): number {
  return Number(day) * DAY_SECONDS - BEIJING_OFFSET_SECONDS;
}

/** When a period of `days` days begun by an event at `timestamp` ends: 24:00 Beijing time of its last day. */
export function endOfPeriod(timestamp: number, days: number): number {
  return startOfBeijingDay(beijingDayOf(timestamp) + days + 1);
}

/** The day a lesson card bought at `timestamp` with `validityDays` expires as (0: no expiry). */
export function lessonExpiryDay(timestamp: number, validityDays: number): number {
  return validityDays === 0 ? 0 : beijingDayOf(timestamp) + validityDays + 1;
}

/** The first Beijing day starting at or after `timestamp` (a time-based card's expiry day from its last period's end). */
export function dayStartingAtOrAfter(timestamp: number): number {
  return Math.ceil((timestamp + BEIJING_OFFSET_SECONDS) / DAY_SECONDS);
}
