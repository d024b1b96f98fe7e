# Provider catalog: the JSON files embedded into alter-vault at build time.
# include()d by the build; the list is explicit (no globbing). Keep it sorted and in step with
# the *.json files in this folder: providers/check_catalog.py fails when they differ.
set(ALTER_PROVIDER_FILES
  ${CMAKE_CURRENT_LIST_DIR}/airtable.json
  ${CMAKE_CURRENT_LIST_DIR}/asana.json
  ${CMAKE_CURRENT_LIST_DIR}/atlassian.json
  ${CMAKE_CURRENT_LIST_DIR}/bitbucket.json
  ${CMAKE_CURRENT_LIST_DIR}/box.json
  ${CMAKE_CURRENT_LIST_DIR}/discord.json
  ${CMAKE_CURRENT_LIST_DIR}/dropbox.json
  ${CMAKE_CURRENT_LIST_DIR}/figma.json
  ${CMAKE_CURRENT_LIST_DIR}/github.json
  ${CMAKE_CURRENT_LIST_DIR}/gitlab.json
  ${CMAKE_CURRENT_LIST_DIR}/google.json
  ${CMAKE_CURRENT_LIST_DIR}/hubspot.json
  ${CMAKE_CURRENT_LIST_DIR}/intercom.json
  ${CMAKE_CURRENT_LIST_DIR}/linear.json
  ${CMAKE_CURRENT_LIST_DIR}/linkedin.json
  ${CMAKE_CURRENT_LIST_DIR}/microsoft.json
  ${CMAKE_CURRENT_LIST_DIR}/notion.json
  ${CMAKE_CURRENT_LIST_DIR}/quickbooks.json
  ${CMAKE_CURRENT_LIST_DIR}/salesforce.json
  ${CMAKE_CURRENT_LIST_DIR}/sentry.json
  ${CMAKE_CURRENT_LIST_DIR}/shopify.json
  ${CMAKE_CURRENT_LIST_DIR}/slack.json
  ${CMAKE_CURRENT_LIST_DIR}/spotify.json
  ${CMAKE_CURRENT_LIST_DIR}/stripe.json
  ${CMAKE_CURRENT_LIST_DIR}/x.json
  ${CMAKE_CURRENT_LIST_DIR}/zendesk.json
  ${CMAKE_CURRENT_LIST_DIR}/zoom.json
)
